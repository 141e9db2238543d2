import type { Context, Subsystem } from '../../core/subsystem.js';
import type { SmasService } from '../smas/index.js';

/** Data access for scientists: read-only SQL and saved queries arrive with the DAAS issue. */
export type DaasService = Record<string, never>;

export function createDaas(_ctx: Context<{ smas: SmasService }>): Subsystem<DaasService> {
  return {
    name: 'daas',
    service: {},
    async start() {},
    async stop() {},
    async health() {
      return { state: 'UP' };
    },
  };
}
