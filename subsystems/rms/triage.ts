import type { Db } from '../../core/db.js';
import { numberOrNull } from '../../core/query.js';
import type { Actor } from './actions.js';
import { BULK_SPAN, type BulkActions, type BulkResult, type JobKeyRow } from './bulk.js';
import { rmsErrors } from './errors.js';
import type { JobQuery } from './jobQuery.js';

/** Failed jobs one triage looks through at most; beyond, it says it stopped. */
export const TRIAGE_MAX = 100_000;
const PATTERN_MAX = 300;

/**
 * A failure reason with what differs from one failure of the same cause to the next taken
 * out: UUIDs, hexadecimal ids, numbers (and so the numeric parts of paths, times and sizes),
 * but not a program's exit code.
 */
export function normaliseReason(reason: string | null): string {
  if (!reason) return '(no reason)';
  return reason
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>')
    .replace(/\b0x[0-9a-f]+\b/gi, '<hex>')
    // A run of 8 or more hex digits with at least one digit: a hash or an id, not a word.
    .replace(/\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b/gi, '<hex>')
    // An exit code tells causes apart (3 is the program's own, 137 a kill): it stays.
    .replace(/(?<![\d.])(?<!exited with code )\d+(?:\.\d+)?/g, '<n>')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, PATTERN_MAX);
}

/** The failed jobs of one cause: the same normalised reason, task type and node. */
export interface TriageGroup {
  pattern: string;
  tasktype: string;
  /** The node the jobs ran on; null for the local executor. */
  nodeid: number | null;
  count: number;
  /** The latest failure of the group, with where to read its log (the attempt that failed). */
  example: { jobid: number; workflowid: number; reason: string | null; attempt: number; log: string };
  firstFinished: number;
  lastFinished: number;
}

export interface Triage {
  from: number;
  to: number;
  groups: TriageGroup[];
  /** Failed jobs grouped. */
  failed: number;
  /** True when it stopped at TRIAGE_MAX failed jobs: the groups are of the first ones only. */
  truncated: boolean;
}

/** A triage group as an operator names it to retry it: the time range it was found in, and its key. */
export interface GroupKey {
  from: number;
  to: number;
  pattern: string;
  tasktype: string;
  nodeid: number | null;
}

/**
 * Failure triage: the FAILED jobs that finished in a span of time (today by default),
 * grouped by cause, each group with a count and an example; a group retried as one bulk
 * action. Read through rms_job_ended_ix, a slice at a time.
 */
export class FailureTriage {
  constructor(
    private readonly db: Db,
    private readonly query: JobQuery,
    private readonly bulk: BulkActions,
  ) {}

  async groups(from: number, to: number, now: number): Promise<Triage> {
    if (!(to > from)) throw rmsErrors.badParams(`triage: the end of the range (${to}) must be after its start (${from})`);
    const p = await this.query.plan({ status: ['FAILED'], finishedFrom: from, finishedTo: to });
    const groups = new Map<string, TriageGroup>();
    let failed = 0;
    for await (const slice of this.query.slices(this.db.knex, p, 'asc', null, BULK_SPAN, now)) {
      const rows = (await this.query.read(this.db.knex, p, slice, 'asc', BULK_SPAN, true)) as (JobKeyRow & { endtime: number | string; attempts: number | string })[];
      for (const r of rows) {
        const pattern = normaliseReason(r.reason);
        const nodeid = numberOrNull(r.nodeid);
        const key = JSON.stringify([pattern, r.tasktype, nodeid]);
        const endtime = Number(r.endtime);
        const example = { jobid: Number(r.id), workflowid: Number(r.workflowid), reason: r.reason, attempt: Number(r.attempts), log: `/api/pfs/jobs/${Number(r.id)}/log?attempt=${Number(r.attempts)}` };
        const g = groups.get(key);
        if (!g) groups.set(key, { pattern, tasktype: r.tasktype, nodeid, count: 1, example, firstFinished: endtime, lastFinished: endtime });
        else {
          g.count += 1;
          // Rows come oldest first: the last one seen is the latest failure.
          g.example = example;
          g.lastFinished = endtime;
        }
        if (++failed >= TRIAGE_MAX) return { from, to, groups: sorted(groups), failed, truncated: true };
      }
    }
    return { from, to, groups: sorted(groups), failed, truncated: false };
  }

  /** Retries the failed jobs of one group (those that still fail with the same cause) as one bulk action. */
  retry(group: GroupKey, who: Actor): Promise<BulkResult> {
    if (typeof group.pattern !== 'string' || group.pattern === '' || group.pattern.length > PATTERN_MAX) throw rmsErrors.badParams('triage retry: pattern (the group\'s normalised reason) is missing or too long');
    if (typeof group.tasktype !== 'string' || group.tasktype === '') throw rmsErrors.badParams('triage retry: tasktype (the group\'s task type) is missing');
    const accept = (r: JobKeyRow) => normaliseReason(r.reason) === group.pattern && numberOrNull(r.nodeid) === group.nodeid;
    return this.bulk.run(
      'retry',
      { status: ['FAILED'], finishedFrom: group.from, finishedTo: group.to, tasktype: group.tasktype, ...(group.nodeid === null ? {} : { nodeid: group.nodeid }) },
      who,
      { accept, described: { triageGroup: group } },
    );
  }
}

function sorted(groups: Map<string, TriageGroup>): TriageGroup[] {
  return [...groups.values()].sort((a, b) => b.count - a.count || b.lastFinished - a.lastFinished);
}
