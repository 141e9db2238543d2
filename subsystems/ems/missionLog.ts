import type { Knex } from 'knex';
import type { Db } from '../../core/db.js';
import type { Clock } from '../../core/clock.js';
import { isUniqueViolation } from '../../core/db.js';
import { keyAfter } from '../../core/keyset.js';
import { insertedId, numberOrNull } from '../../core/query.js';
import { emsErrors } from './errors.js';
import { insertLogEntry, listLogEntries, selectLogEntryKey, type LogEntryRow, type LogFilter } from './sql/missionLog.js';

/** A mission-log entry's severity (ems_log.severity). The migrations keep frozen copies of the list they wrote. */
export const SEVERITIES = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface LogEntry {
  severity: Severity;
  subsystem: string;
  message: string;
  username?: string;
  workflowid?: number;
  jobid?: number;
  nodeid?: number;
  transferid?: number;
}

/** What the Mission log page and its JSON twin ask for: a page newest first, and its filters. */
export interface LogQuery extends Partial<{ [K in keyof LogFilter]: NonNullable<LogFilter[K]> }> {
  /** The id of the last entry of the previous page. */
  before?: number;
  limit?: number;
}

export type { LogEntryRow } from './sql/missionLog.js';

const MAX_MESSAGE = 4000;

/** The mission log: what happened and who did it, kept in the database for operators. */
export class MissionLog {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /** Adds an entry; `audit`, if given, runs in the insert's transaction with the new entry's id. */
  async append(entry: LogEntry, audit?: (trx: Knex.Transaction, id: number) => Promise<void>): Promise<number> {
    return this.write(entry, null, audit);
  }

  /**
   * The entry an event makes, once however often the event is delivered: the outbox delivers
   * at least once, and the event's id is unique in the log. Undefined when it was made before.
   */
  async appendForEvent(eventid: number, entry: LogEntry): Promise<number | undefined> {
    try {
      return await this.write(entry, eventid > 0 ? eventid : null);
    } catch (err) {
      if (isUniqueViolation(err)) return undefined;
      throw err;
    }
  }

  private async write(entry: LogEntry, eventid: number | null, audit?: (trx: Knex.Transaction, id: number) => Promise<void>): Promise<number> {
    const message = entry.message?.trim?.() ?? '';
    if (!SEVERITIES.includes(entry.severity)) throw emsErrors.badLogEntry(`severity must be one of ${SEVERITIES.join(', ')}; got ${JSON.stringify(entry.severity)}`);
    if (message === '') throw emsErrors.badLogEntry('the message is empty');
    if (message.length > MAX_MESSAGE) throw emsErrors.badLogEntry(`the message has ${message.length} characters; at most ${MAX_MESSAGE}`);
    const row = {
      created: this.clock.now(),
      severity: entry.severity,
      subsystem: entry.subsystem,
      message,
      username: entry.username ?? null,
      workflowid: entry.workflowid ?? null,
      jobid: entry.jobid ?? null,
      nodeid: entry.nodeid ?? null,
      transferid: entry.transferid ?? null,
      eventid,
    };
    if (!audit) return insertedId(await insertLogEntry(this.db.knex, row));
    return this.db.knex.transaction(async (trx) => {
      const id = insertedId(await insertLogEntry(trx, row));
      await audit(trx, id);
      return id;
    });
  }

  async list(o: LogQuery = {}): Promise<LogEntryRow[]> {
    const limit = Math.min(Math.max(o.limit ?? 50, 1), 500);
    let after: { created: number; id: number } | null = null;
    if (o.before !== undefined) {
      const [key] = (await selectLogEntryKey(this.db.knex, { id: o.before })) as { id: unknown; created: unknown }[];
      after = keyAfter(key, o.before);
    }
    const rows = (await listLogEntries(this.db.knex, {
      after,
      limit,
      severity: o.severity ?? null,
      subsystem: o.subsystem ?? null,
      workflowid: o.workflowid ?? null,
      from: o.from ?? null,
      to: o.to ?? null,
      text: o.text ?? null,
    })) as LogEntryRow[];
    return rows.map((r) => ({ ...r, id: Number(r.id), created: Number(r.created), workflowid: numberOrNull(r.workflowid), jobid: numberOrNull(r.jobid), nodeid: numberOrNull(r.nodeid), transferid: numberOrNull(r.transferid), eventid: numberOrNull(r.eventid) }));
  }
}
