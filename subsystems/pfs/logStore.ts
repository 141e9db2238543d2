import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Knex } from 'knex';
import type { Config } from '../../config/schema.js';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import { chunks, INSERT_ROWS_MAX, insertedId } from '../../core/query.js';
import type { ClaimedJob } from '../rms/index.js';
import { pfsErrors } from './errors.js';
import { backupsOf, jobLogName, type Extent } from './jobLog.js';
import type { RunLog, RunningLog } from './local/executor.js';
import {
  insertLogExtents,
  insertLogFiles,
  insertLogSegment,
  selectInlineAttempts,
  selectInlineExtents,
  selectJobLogFiles,
  selectLogAttempts,
  selectLogExtents,
  selectLogSegments,
} from './sql/logFiles.js';

/** A run's log at its end, as the dispatcher records it with the run's outcome. */
export type EndedLog = RunLog & { job: ClaimedJob };


/** One attempt of a job's log as the Logs page lists it. */
export interface LogAttempt {
  attempt: number;
  /** The DPCT's FILENAME: `<workflow>/<job>.<attempt>.log`. */
  filename: string;
  bytes: number;
  created: number;
  updated: number;
}

/**
 * The job log store (ARCHITECTURE §4 step 3): jobs' lines in append-only segment files under
 * `pfs.jobLog.dir`, each job attempt's extents in pfs_log_extent, the DPCT's rows in
 * pfs_log_file. Recording goes in the dispatcher's transaction with the outcomes; reading
 * serves the Logs page and the API from any process that sees the directory.
 */
export class JobLogStore {
  /** Segment ids by name, of rows known to be committed. */
  private readonly segmentIds = new Map<string, number>();

  constructor(
    private readonly db: Db,
    /** The store's directory, resolved. */
    readonly dir: string,
    private readonly config: Config['pfs'],
    private readonly clock: Clock,
  ) {}

  /**
   * Registers the segments these logs were written to, each in a short transaction of its
   * own before the dispatcher's: a new segment is rare (one per writer per size or age), and
   * a row registered whose extents are then not written costs nothing (retention drops it).
   */
  async register(ended: readonly EndedLog[], running: readonly RunningLog[]): Promise<void> {
    let unknown: Set<string> | undefined;
    const see = (extents: Extent[]) => {
      for (const e of extents) if (!this.segmentIds.has(e.segment)) (unknown ??= new Set()).add(e.segment);
    };
    for (const l of ended) see(l.extents);
    for (const l of running) see(l.extents);
    if (!unknown) return;
    const names = [...unknown];
    for (const row of (await selectLogSegments(this.db.knex, { names })) as { id: unknown; name: string }[]) this.segmentIds.set(row.name, Number(row.id));
    for (const name of names) {
      if (this.segmentIds.has(name)) continue;
      this.segmentIds.set(name, insertedId(await insertLogSegment(this.db.knex, { name, created: this.clock.now() })));
    }
  }

  /**
   * Writes, in the dispatcher's transaction: the extents of running jobs, and of each run
   * that ended its extents and its pfs_log_file row. Its segments must be registered.
   */
  async record(trx: Knex.Transaction, ended: readonly EndedLog[], running: readonly RunningLog[]): Promise<void> {
    const now = this.clock.now();
    // Oracle takes Knex's multi-row insert, in slices; the others one statement of arrays (see insertColumns).
    const size = this.db.dialect === 'oracle' ? INSERT_ROWS_MAX : Infinity;
    const extents: number[][] = [];
    const add = (job: ClaimedJob, attempt: number, list: Extent[]) => {
      for (const e of list) extents.push([this.segmentIds.get(e.segment)!, job.id, attempt, e.pos, e.bytes, now]);
    };
    for (const l of running) add(l.job, l.attempt, l.extents);
    // A run whose whole log is one extent keeps it in its pfs_log_file row (migration 0007).
    const inline = (l: EndedLog) => l.extents.length === 1 && l.extents[0].bytes === l.bytes;
    for (const l of ended) if (!inline(l)) add(l.job, l.attempt, l.extents);
    for (const rows of chunks(extents, size)) await insertLogExtents(trx, { rows });
    if (ended.length === 0) return;
    const { logMaxKb, logBackups } = this.config.local;
    const files = ended.map((l) => [
      jobLogName(l.job.workflowid, l.job.id, l.attempt),
      l.job.id,
      l.attempt,
      inline(l) ? this.segmentIds.get(l.extents[0].segment)! : null,
      inline(l) ? l.extents[0].pos : null,
      'pfs',
      l.job.tasktype,
      l.job.workflowid,
      logBackups,
      backupsOf(l.bytes, logMaxKb, logBackups),
      l.bytes,
      now,
      now,
    ]);
    for (const rows of chunks(files, size)) await insertLogFiles(trx, { rows });
  }

  /** A job's log attempts, running ones included; an attempt's size is what its extents hold now. */
  async attempts(jobid: number, workflowid: number): Promise<LogAttempt[]> {
    type Row = { attempt: unknown; bytes: unknown; created: unknown; updated: unknown };
    const rows = [...((await selectLogAttempts(this.db.knex, { jobid })) as Row[]), ...((await selectInlineAttempts(this.db.knex, { jobid })) as Row[])];
    const byAttempt = new Map<number, LogAttempt>();
    for (const r of rows) {
      const attempt = Number(r.attempt);
      const a = byAttempt.get(attempt);
      if (a) {
        a.bytes += Number(r.bytes);
        a.created = Math.min(a.created, Number(r.created));
        a.updated = Math.max(a.updated, Number(r.updated));
      } else byAttempt.set(attempt, { attempt, filename: jobLogName(workflowid, jobid, attempt), bytes: Number(r.bytes), created: Number(r.created), updated: Number(r.updated) });
    }
    return [...byAttempt.values()].sort((a, b) => a.attempt - b.attempt);
  }

  /** The DPCT's log-file rows of a job (one per run of an attempt that ended with a log). */
  async files(jobid: number): Promise<Record<string, unknown>[]> {
    return (await selectJobLogFiles(this.db.knex, { jobid })) as Record<string, unknown>[];
  }

  /**
   * A job attempt's log as the extents it is made of, in the order they were recorded: by
   * time, a run's own extents (recorded while it ran, or at its end) before an extent held in
   * a row recorded at the same time, then by id. Several runs of one attempt (a run handed
   * back, then run again) follow each other.
   */
  async extents(jobid: number, attempt: number): Promise<Extent[]> {
    type Row = { id: unknown; segment: string; pos: unknown; bytes: unknown; created: unknown };
    const own = (await selectLogExtents(this.db.knex, { jobid, attempt })) as Row[];
    const inline = (await selectInlineExtents(this.db.knex, { jobid, attempt })) as Row[];
    const all = [...own.map((r) => ({ r, kind: 0 })), ...inline.map((r) => ({ r, kind: 1 }))];
    all.sort((a, b) => Number(a.r.created) - Number(b.r.created) || a.kind - b.kind || Number(a.r.id) - Number(b.r.id));
    return all.map(({ r }) => ({ segment: r.segment, pos: Number(r.pos), bytes: Number(r.bytes) }));
  }

  /** `length` bytes (all, if undefined) from `offset` of the log these extents make, read from their segments. */
  async read(extents: readonly Extent[], offset = 0, length?: number): Promise<Buffer> {
    const total = extents.reduce((n, e) => n + e.bytes, 0);
    const end = Math.min(length === undefined ? total : offset + length, total);
    if (offset >= end) return Buffer.alloc(0);
    const out = Buffer.alloc(end - offset);
    let at = 0; // the log's byte where the current extent begins
    let filled = 0;
    const handles = new Map<string, Awaited<ReturnType<typeof open>>>();
    try {
      for (const e of extents) {
        const from = Math.max(offset, at);
        const to = Math.min(end, at + e.bytes);
        if (from < to) {
          let fh = handles.get(e.segment);
          if (!fh) {
            try {
              fh = await open(join(this.dir, e.segment), 'r');
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw pfsErrors.segmentMissing(e.segment, this.dir);
              throw err;
            }
            handles.set(e.segment, fh);
          }
          const { bytesRead } = await fh.read(out, filled, to - from, e.pos + (from - at));
          if (bytesRead < to - from) throw pfsErrors.segmentMissing(e.segment, this.dir);
          filled += to - from;
        }
        at += e.bytes;
        if (at >= end) break;
      }
    } finally {
      for (const fh of handles.values()) await fh.close();
    }
    return out;
  }

  /** Where the last `lines` lines of the log these extents make begin (a byte offset). */
  async tailOffset(extents: readonly Extent[], lines: number): Promise<number> {
    const total = extents.reduce((n, e) => n + e.bytes, 0);
    let end = total;
    let found = 0;
    const CHUNK = 64 * 1024;
    while (end > 0) {
      const from = Math.max(end - CHUNK, 0);
      const buf = await this.read(extents, from, end - from);
      // A last line's own newline does not begin a line.
      for (let i = buf.length - 1; i >= 0; i--) {
        if (buf[i] !== 0x0a || from + i === total - 1) continue;
        if (++found === lines) return from + i + 1;
      }
      end = from;
    }
    return 0;
  }
}
