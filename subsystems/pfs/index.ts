import { availableParallelism } from 'node:os';
import type { Context, Subsystem } from '../../core/subsystem.js';
import type { DssService } from '../dss/index.js';
import type { RmsService } from '../rms/index.js';

export interface PfsService {
  /** Cores this process offers to local jobs. */
  localCores(): number;
}

export function createPfs(_ctx: Context<{ rms: RmsService; dss: DssService }>): Subsystem<PfsService> {
  const cores = availableParallelism();
  return {
    name: 'pfs',
    service: { localCores: () => cores },
    async start() {},
    async stop() {},
    async health() {
      return { state: 'UP', detail: `local executor: ${cores} core(s)` };
    },
  };
}
