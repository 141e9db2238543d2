import type { Context, Subsystem } from '../../core/subsystem.js';
import { Alerts } from './alerts.js';
import { recordEventsInMissionLog } from './automatic.js';
import { OutboxBus } from './bus.js';
import { MissionLog } from './missionLog.js';
import { emsApi, emsPages, type Audit } from './routes.js';
import { countEvents } from './sql/settleEvent.js';
import { purgeDeliveredEvents } from './retention.js';

export type { Bus, EventMap, Topic, Delivery, Handler } from '../../core/bus.js';
export type { LogEntry, Severity } from './missionLog.js';
export type { Alert, AlertClearing, AlertRow, Alerts } from './alerts.js';

export interface EmsService {
  bus: OutboxBus;
  missionLog: MissionLog;
  /** Alerts for on-call staff; each raised and each cleared one is also a mission-log entry. */
  alerts: Alerts;
  /** Archives (Arrow, by month, under `dir`) and purges delivered events created before `before`. */
  purge(dir: string, before: number): Promise<number>;
}

/**
 * EMS is created first and differently: its bus goes into every other subsystem's context,
 * so its factory takes the context without a bus.
 */
export function createEms(ctx: Omit<Context, 'bus' | 'services'>, audit: Audit): Subsystem<EmsService> {
  const bus = new OutboxBus(ctx.db, ctx.config.ems.outbox, ctx.clock, ctx.log);
  const missionLog = new MissionLog(ctx.db, ctx.clock);
  const alerts = new Alerts(ctx.db, bus, ctx.clock);
  let unsubscribe: (() => void) | undefined;
  return {
    name: 'ems',
    service: {
      bus,
      missionLog,
      alerts,
      purge: async (dir, before) =>
        (await purgeDeliveredEvents({ db: ctx.db, dir, before, batchSize: ctx.config.rms.retention.batchSize, log: ctx.log })).archived,
    },
    api: emsApi(missionLog, alerts, audit),
    pages: {
      router: emsPages(missionLog, alerts, audit),
      menu: [
        { title: 'Mission log', path: '/ems/mission-log' },
        { title: 'Alerts', path: '/ems/alerts' },
      ],
    },
    async start() {
      unsubscribe = recordEventsInMissionLog(bus, missionLog, ctx.log);
      bus.start();
    },
    async stop() {
      await bus.stop();
      unsubscribe?.();
    },
    async health() {
      const [row] = (await countEvents(ctx.db.knex, { state: 'FAILED' })) as { n: number | string }[];
      const failed = Number(row?.n ?? 0);
      return failed > 0
        ? { state: 'DEGRADED', detail: `${failed} event(s) could not be delivered (ems_outbox state FAILED)` }
        : { state: 'UP' };
    },
  };
}
