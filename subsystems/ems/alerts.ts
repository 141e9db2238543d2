import type { Knex } from 'knex';
import type { Bus } from '../../core/bus.js';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import { keyAfter } from '../../core/keyset.js';
import { insertedId, numberOrNull } from '../../core/query.js';
import { emsErrors } from './errors.js';
import { SEVERITIES, type Severity } from './missionLog.js';
import { clearAlert, insertAlert, listAlerts, selectAlertKey, selectOpenAlert, type AlertRow } from './sql/alerts.js';

/** An alert's state (ems_alert.state): OPEN when raised; SENT, FAILED and ACKED come with the EMS alerts issue. */
export const ALERT_STATES = ['OPEN', 'SENT', 'FAILED', 'ACKED'] as const;
export type AlertState = (typeof ALERT_STATES)[number];

export interface Alert {
  severity: Severity;
  /** The error code or condition it is about, as operators search for it. */
  code: string;
  subsystem: string;
  message: string;
  /** Alerts of one cause: while one is open, raising another changes nothing. */
  dedupe?: string;
  workflowid?: number;
  jobid?: number;
  nodeid?: number;
  transferid?: number;
}

/** The end of the condition an alert of this `dedupe` was raised for (a disk that has room again). */
export interface AlertClearing {
  dedupe: string;
  code: string;
  subsystem: string;
  /** What is so now, for the mission log. */
  message: string;
}

export type { AlertRow } from './sql/alerts.js';

/**
 * The alerts subsystems raise for on-call staff (ems_alert). An alert is open while it is
 * neither acknowledged nor cleared; one cause (`dedupe`) has at most one open. Raising and
 * clearing record the row and the durable event (`alert.raised`, `alert.cleared`) in the
 * caller's transaction, so the alert exists exactly when the fact it is about does; the
 * mission log hears of both through the bus.
 */
export class Alerts {
  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly clock: Clock,
  ) {}

  /** The alert's id: a new one, or the open one of the same `dedupe`. */
  async raise(alert: Alert, trx?: Knex.Transaction): Promise<number> {
    if (!trx) return this.db.knex.transaction((own) => this.raise(alert, own));
    if (!SEVERITIES.includes(alert.severity)) throw emsErrors.badAlert(`severity must be one of ${SEVERITIES.join(', ')}; got ${JSON.stringify(alert.severity)}`);
    const message = checked(alert);
    const dedupe = alert.dedupe?.slice(0, 200);
    if (dedupe) {
      const open = await this.openId(dedupe, trx);
      if (open !== undefined) return open;
    }
    const ids = { workflowid: alert.workflowid ?? null, jobid: alert.jobid ?? null, nodeid: alert.nodeid ?? null, transferid: alert.transferid ?? null };
    const id = insertedId(
      await insertAlert(trx, { created: this.clock.now(), severity: alert.severity, code: alert.code, subsystem: alert.subsystem, message, dedupe: dedupe ?? null, ...ids }),
    );
    await this.bus.publish(trx, 'alert.raised', {
      alertid: id,
      severity: alert.severity,
      code: alert.code,
      subsystem: alert.subsystem,
      message,
      ...(dedupe ? { dedupe } : {}),
      ...Object.fromEntries(Object.entries(ids).filter(([, v]) => v !== null)),
    });
    return id;
  }

  /** Clears the open alert of `dedupe`; its id, or undefined when none was open (nothing is published then). */
  async clear(c: AlertClearing, trx?: Knex.Transaction): Promise<number | undefined> {
    if (!trx) return this.db.knex.transaction((own) => this.clear(c, own));
    const message = checked(c);
    const dedupe = c.dedupe.slice(0, 200);
    const id = await this.openId(dedupe, trx);
    if (id === undefined) return undefined;
    if (Number(await clearAlert(trx, { id, now: this.clock.now() })) === 0) return undefined;
    await this.bus.publish(trx, 'alert.cleared', { alertid: id, code: c.code, subsystem: c.subsystem, message, dedupe });
    return id;
  }

  /** Whether the cause named `dedupe` has an open alert. */
  async isOpen(dedupe: string): Promise<boolean> {
    return (await this.openId(dedupe.slice(0, 200), this.db.knex)) !== undefined;
  }

  /** Newest first, paged by key: `before` is the last id of the previous page; `state` undefined for all. */
  async list(o: { before?: number; limit?: number; state?: AlertState } = {}): Promise<AlertRow[]> {
    let after: { created: number; id: number } | null = null;
    if (o.before !== undefined) {
      const [key] = (await selectAlertKey(this.db.knex, { id: o.before })) as { id: unknown; created: unknown }[];
      after = keyAfter(key, o.before);
    }
    const rows = (await listAlerts(this.db.knex, { after, limit: Math.min(Math.max(o.limit ?? 50, 1), 500), state: o.state ?? null })) as AlertRow[];
    return rows.map((r) => ({
      ...r,
      id: Number(r.id),
      created: Number(r.created),
      attempts: Number(r.attempts),
      sent: numberOrNull(r.sent),
      acked: numberOrNull(r.acked),
      cleared: numberOrNull(r.cleared),
      workflowid: numberOrNull(r.workflowid),
      jobid: numberOrNull(r.jobid),
      nodeid: numberOrNull(r.nodeid),
      transferid: numberOrNull(r.transferid),
    }));
  }

  private async openId(dedupe: string, knex: Knex): Promise<number | undefined> {
    const [open] = (await selectOpenAlert(knex, { dedupe })) as { id: unknown }[];
    return open ? Number(open.id) : undefined;
  }
}

/** The alert's message, trimmed and cut to the column; rejects an empty one and a code operators could not search for. */
function checked(a: { code: string; message: string }): string {
  const message = a.message.trim().slice(0, 2000);
  if (!message) throw emsErrors.badAlert('the message is empty');
  if (!/^[A-Za-z0-9_.-]{1,40}$/.test(a.code)) throw emsErrors.badAlert(`code must be 1 to 40 letters, digits, _ . or -; got ${JSON.stringify(a.code)}`);
  return message;
}
