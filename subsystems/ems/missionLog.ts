import type { Knex } from 'knex';
import type { Db } from '../../core/db.js';
import type { Clock } from '../../core/clock.js';
import { insertedId } from '../../core/query.js';
import { emsErrors } from './errors.js';
import { insertLogEntry, listLogEntries, type LogEntryRow } from './sql/missionLog.js';

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

const MAX_MESSAGE = 4000;

/** The mission log: what happened and who did it, kept in the database for operators. */
export class MissionLog {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /** Adds an entry; `audit`, if given, runs in the insert's transaction with the new entry's id. */
  async append(entry: LogEntry, audit?: (trx: Knex.Transaction, id: number) => Promise<void>): Promise<number> {
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
    };
    if (!audit) return insertedId(await insertLogEntry(this.db.knex, row));
    return this.db.knex.transaction(async (trx) => {
      const id = insertedId(await insertLogEntry(trx, row));
      await audit(trx, id);
      return id;
    });
  }

  async list(options: { before?: number; limit?: number; severity?: Severity } = {}): Promise<LogEntryRow[]> {
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 500);
    const rows = (await listLogEntries(this.db.knex, { before: options.before ?? null, limit, severity: options.severity ?? null })) as LogEntryRow[];
    return rows.map((r) => ({ ...r, id: Number(r.id), created: Number(r.created) }));
  }
}
