import { accessSync, constants, statfsSync } from 'node:fs';
import { makeDir } from '../../core/files.js';
import { join, resolve } from 'node:path';
import type { Context, Subsystem } from '../../core/subsystem.js';
import { dssErrors } from './errors.js';

/** The areas of the file store: files arrive in staging, live in store, bad ones wait in quarantine. */
export const AREAS = ['staging', 'store', 'quarantine', 'archive'] as const;
export type Area = (typeof AREAS)[number];

export interface DssService {
  /** The absolute directory of an area of the store. */
  area(area: Area): string;
}

export function createDss(ctx: Context): Subsystem<DssService> {
  const root = resolve(ctx.config.dss.root);
  const minFree = ctx.config.dss.minFreeMb;
  const area = (name: Area) => join(root, name);
  return {
    name: 'dss',
    service: { area },
    async start() {
      for (const name of AREAS) {
        try {
          makeDir(area(name));
          accessSync(area(name), constants.W_OK);
        } catch (err) {
          throw dssErrors.storeUnwritable(area(name), (err as NodeJS.ErrnoException).code ?? String(err));
        }
      }
      ctx.log.info('file store ready', { root });
    },
    async stop() {},
    async health() {
      const fs = statfsSync(root);
      const freeMb = Math.floor((fs.bavail * fs.bsize) / 2 ** 20);
      return freeMb < minFree
        ? { state: 'DEGRADED', detail: `only ${freeMb} MiB free under ${root} (dss.minFreeMb is ${minFree})` }
        : { state: 'UP', detail: `file store ${root}` };
    },
  };
}
