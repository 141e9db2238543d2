import type { Knex } from 'knex';
import type { Bus } from '../../core/bus.js';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import { keyAfter } from '../../core/keyset.js';
import { insertedId } from '../../core/query.js';
import { emsErrors } from './errors.js';
import { SEVERITIES, type Severity } from './missionLog.js';
import { insertAlert, listAlerts, selectAlertKey, selectUnackedAlert, type AlertRow } from './sql/alerts.js';

/** An alert's state (ems_alert.state): OPEN when raised; SENT, FAILED and ACKED come with the EMS alerts issue. */
export const ALERT_STATES = ['OPEN', 'SENT', 'FAILED', 'ACKED'] as const;
export type AlertState = (typeof ALERT_STATES)[number];

export interface Alert {
  severity: Severity;
  /** The error code or condition it is about, as operators search for it. */
  code: string;
  subsystem: string;
  message: string;
  /** Alerts of one cause: while one is not acknowledged, raising another changes nothing. */
  dedupe?: string;
  workflowid?: number;
  jobid?: number;
  nodeid?: number;
  transferid?: number;
}

export type { AlertRow } from './sql/alerts.js';

/**
 * The alerts subsystems raise for on-call staff (ems_alert). Raising records the row and
 * the durable `alert.raised` event in the caller's transaction, so the alert exists exactly
 * when the fact it is about does; the mission log hears of it through the bus.
 */
export class Alerts {
  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly clock: Clock,
  ) {}

  /** The alert's id: a new one, or the unacknowledged one of the same `dedupe`. */
  async raise(alert: Alert, trx?: Knex.Transaction): Promise<number> {
    if (!trx) return this.db.knex.transaction((own) => this.raise(alert, own));
    if (!SEVERITIES.includes(alert.severity)) throw emsErrors.badAlert(`severity must be one of ${SEVERITIES.join(', ')}; got ${JSON.stringify(alert.severity)}`);
    const message = alert.message.trim().slice(0, 2000);
    if (!message) throw emsErrors.badAlert('the message is empty');
    if (!/^[A-Za-z0-9_.-]{1,40}$/.test(alert.code)) throw emsErrors.badAlert(`code must be 1 to 40 letters, digits, _ . or -; got ${JSON.stringify(alert.code)}`);
    if (alert.dedupe) {
      const [open] = (await selectUnackedAlert(trx, { dedupe: alert.dedupe.slice(0, 200) })) as { id: unknown }[];
      if (open) return Number(open.id);
    }
    const ids = { workflowid: alert.workflowid ?? null, jobid: alert.jobid ?? null, nodeid: alert.nodeid ?? null, transferid: alert.transferid ?? null };
    const id = insertedId(
      await insertAlert(trx, { created: this.clock.now(), severity: alert.severity, code: alert.code, subsystem: alert.subsystem, message, dedupe: alert.dedupe?.slice(0, 200) ?? null, ...ids }),
    );
    await this.bus.publish(trx, 'alert.raised', {
      alertid: id,
      severity: alert.severity,
      code: alert.code,
      subsystem: alert.subsystem,
      message,
      ...Object.fromEntries(Object.entries(ids).filter(([, v]) => v !== null)),
    });
    return id;
  }

  /** Newest first, paged by key: `before` is the last id of the previous page; `state` undefined for all. */
  async list(o: { before?: number; limit?: number; state?: AlertState } = {}): Promise<AlertRow[]> {
    let after: { created: number; id: number } | null = null;
    if (o.before !== undefined) {
      const [key] = (await selectAlertKey(this.db.knex, { id: o.before })) as { id: unknown; created: unknown }[];
      after = keyAfter(key, o.before);
    }
    const rows = (await listAlerts(this.db.knex, { after, limit: Math.min(Math.max(o.limit ?? 50, 1), 500), state: o.state ?? null })) as AlertRow[];
    const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    return rows.map((r) => ({
      ...r,
      id: Number(r.id),
      created: Number(r.created),
      attempts: Number(r.attempts),
      sent: num(r.sent),
      acked: num(r.acked),
      workflowid: num(r.workflowid),
      jobid: num(r.jobid),
      nodeid: num(r.nodeid),
      transferid: num(r.transferid),
    }));
  }
}
