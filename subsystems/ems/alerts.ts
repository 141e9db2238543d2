import type { Logger } from 'winston';
import type { Bus, EventMap } from '../../core/bus.js';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import { messageOf } from '../../core/errors.js';
import type { MissionLog } from './missionLog.js';
import { clearAlerts, insertAlert, listOpenAlerts, selectOpenAlert } from './sql/alerts.js';

export interface AlertRow {
  id: number;
  created: number;
  severity: string;
  code: string;
  subsystem: string;
  message: string;
  dedupe: string | null;
  state: string;
}

/**
 * The alerts subsystems raise (`alert.raised`, `alert.cleared` on the bus), kept in ems_alert:
 * one open alert per condition (its `dedupe`), however often it is raised, so a redelivered
 * event or a restarted process adds nothing. Each new alert and each clear is also a line
 * of the mission log. Sending them to on-call staff comes with the EMS alerts issue.
 */
export class Alerts {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly missionLog: MissionLog,
    private readonly log: Logger,
  ) {}

  /** Subscribes to the alert events; returns the function that removes both handlers. */
  subscribe(bus: Bus): () => void {
    const offRaised = bus.subscribe('alert.raised', 'ems.alerts', (e) => this.raised(e));
    const offCleared = bus.subscribe('alert.cleared', 'ems.alerts', (e) => this.cleared(e));
    return () => {
      offRaised();
      offCleared();
    };
  }

  /** Whether the condition named `dedupe` has an open alert. */
  async isOpen(dedupe: string): Promise<boolean> {
    return ((await selectOpenAlert(this.db.knex, { dedupe })) as unknown[]).length > 0;
  }

  async open(limit = 50): Promise<AlertRow[]> {
    const rows = (await listOpenAlerts(this.db.knex, { limit: Math.min(Math.max(limit, 1), 500) })) as AlertRow[];
    return rows.map((r) => ({ ...r, id: Number(r.id), created: Number(r.created) }));
  }

  private async raised(e: EventMap['alert.raised']): Promise<void> {
    const added = await this.db.knex.transaction(async (trx) => {
      if (((await selectOpenAlert(trx, { dedupe: e.dedupe })) as unknown[]).length > 0) return false;
      await insertAlert(trx, {
        created: this.clock.now(),
        severity: e.severity,
        code: e.code.slice(0, 40),
        subsystem: e.subsystem.slice(0, 8),
        message: e.message.slice(0, 2000),
        dedupe: e.dedupe.slice(0, 200),
      });
      return true;
    });
    if (!added) return;
    this.log.warn(`alert raised: ${e.message}`, { code: e.code, dedupe: e.dedupe });
    await this.note(e.severity, e.subsystem, `alert raised: ${e.message}`);
  }

  private async cleared(e: EventMap['alert.cleared']): Promise<void> {
    const n = Number(await clearAlerts(this.db.knex, { dedupe: e.dedupe.slice(0, 200), now: this.clock.now() }));
    if (n === 0) return;
    this.log.info(`alert cleared: ${e.message}`, { code: e.code, dedupe: e.dedupe });
    await this.note('INFO', e.subsystem, `alert cleared: ${e.message}`);
  }

  /** The mission-log line of an alert; the alert stands without it. */
  private async note(severity: 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL', subsystem: string, message: string): Promise<void> {
    await this.missionLog.append({ severity, subsystem, message: message.slice(0, 4000) }).catch((err) => this.log.warn('could not write the mission log', { error: messageOf(err) }));
  }
}
