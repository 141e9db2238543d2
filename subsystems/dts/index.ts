import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Context, Subsystem } from '../../core/subsystem.js';
import type { DssService } from '../dss/index.js';
import type { EmsService } from '../ems/index.js';

export interface DtsService {
  /** Where the upstream centre's data is taken from, as an operator reads it. */
  upstream(): string;
}

/**
 * DTS pulls the upstream centre's data. While the upstream cannot be reached DTS is
 * DEGRADED, which an operator sees, but the rest of the DPC stays ready.
 */
export function createDts(ctx: Context<{ dss: DssService; ems: EmsService }>): Subsystem<DtsService> {
  const upstream = ctx.config.dts.upstream;
  const where = upstream.kind === 'local' ? `local directory ${resolve(upstream.path)}` : 'none configured';
  return {
    name: 'dts',
    service: { upstream: () => where },
    async start() {
      ctx.log.info(`upstream: ${where}`);
    },
    async stop() {},
    async health() {
      if (upstream.kind === 'none') return { state: 'UP', detail: 'no upstream configured (dts.upstream.kind is none)' };
      try {
        await access(resolve(upstream.path), constants.R_OK);
        return { state: 'UP', detail: `upstream ${where}` };
      } catch (err) {
        return { state: 'DEGRADED', detail: `upstream unreachable: ${where} (${(err as NodeJS.ErrnoException).code})` };
      }
    },
  };
}
