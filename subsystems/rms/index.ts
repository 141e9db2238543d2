import type { Context, Subsystem } from '../../core/subsystem.js';
import type { DssService } from '../dss/index.js';
import type { EmsService } from '../ems/index.js';

/** Run management: workflows, steps and jobs arrive with the run-management issue. */
export type RmsService = Record<string, never>;

export function createRms(_ctx: Context<{ ems: EmsService; dss: DssService }>): Subsystem<RmsService> {
  return {
    name: 'rms',
    service: {},
    async start() {},
    async stop() {},
    async health() {
      return { state: 'UP' };
    },
  };
}
