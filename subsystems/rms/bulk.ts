import type { Knex } from 'knex';
import { coreErrors } from '../../core/errors.js';
import { chunks } from '../../core/query.js';
import { reopenJobs, type ActionDeps, type Actor } from './actions.js';
import { settleWorkflow, type Finished } from './bookkeeping.js';
import { validPriority } from './descriptor.js';
import { rmsErrors } from './errors.js';
import type { JobFilter, JobQuery, Planned } from './jobQuery.js';
import { transaction } from './queue.js';
import { newestWorkflow, selectJobKeys, setJobsPriority } from './sql/jobQuery.js';
import { lockWorkflow, type LockedWorkflow } from './sql/workflows.js';
import { groupBy, JobWork, ref, type JobStatus } from './work.js';

/** What a bulk action does to the jobs it finds. */
export const BULK_ACTIONS = ['resume', 'retry', 'cancel', 'priority'] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];

/**
 * The states each action changes a job from, and the workflow states it acts in. None is a
 * state a process holds (CLAIMED, RUNNING): a bulk action never changes a job a process runs;
 * cancel one of those by itself (its executor then stops it).
 */
const RULES: Record<BulkAction, { from: JobStatus[]; workflows: string[] | null }> = {
  resume: { from: ['FAILED'], workflows: ['FAILED', 'RUNNING', 'PAUSED'] },
  retry: { from: ['FAILED', 'CANCELLED'], workflows: ['RUNNING', 'PAUSED', 'FAILED', 'CANCELLED'] },
  cancel: { from: ['WAITING', 'READY', 'RETRY_WAIT'], workflows: ['RUNNING', 'PAUSED'] },
  priority: { from: ['WAITING', 'READY', 'RETRY_WAIT'], workflows: null },
};

/** Job ids one batch (one transaction) looks through at most. */
export const BULK_SPAN = 2000;

export interface BulkResult {
  action: BulkAction;
  /** Jobs that matched when the action began (a lower bound when `exact` is false). */
  matched: number;
  exact: boolean;
  /** Jobs it changed: those that still matched, and were in a state it changes, when their batch ran. */
  changed: number;
  /** Matching jobs left as they were: their workflow was in a state the action does not act in. */
  skipped: number;
  batches: number;
}

/** A row of a job as a bulk action reads it. */
export type JobKeyRow = { id: number | string; workflowid: number | string; stepid: number | string; status: string; reason: string | null; tasktype: string; nodeid: number | string | null };

export interface BulkOptions {
  priority?: number;
  /** A further test of each row, which SQL cannot say (a triage group's normalised reason). */
  accept?: (row: JobKeyRow) => boolean;
  /** What the audit records as the filter (a triage group: its key), if not the filter itself. */
  described?: unknown;
}

/**
 * Actions on every job a filter matches, as one audited action (seed 001's "Resume failed
 * jobs" and "Change jobs priority", on a query instead of one workflow).
 *
 * Semantics: the action walks the jobs the filter's plan reads (jobQuery.ts) in key order,
 * in batches of at most BULK_SPAN job ids, each batch one transaction. A batch changes the
 * jobs that match the filter and are in a state the action changes when that batch runs;
 * a job that moved meanwhile (claimed, ended) is left as it is, since every move is
 * conditional on the state it was read in. Jobs of workflows made after the action began, and
 * jobs that finish after it began, are not part of it. The audit row, written in the first
 * batch's transaction, records the filter and how many jobs matched when it began; the
 * result (and the mission log) says how many changed.
 */
export class BulkActions {
  constructor(
    private readonly d: ActionDeps,
    private readonly query: JobQuery,
    /** Told of each finished bulk action after its last batch (the mission log). */
    private readonly announce: (who: Actor, result: BulkResult) => void,
  ) {}

  async run(action: BulkAction, filter: JobFilter, who: Actor, o: BulkOptions = {}): Promise<BulkResult> {
    if (!BULK_ACTIONS.includes(action)) throw rmsErrors.badParams(`bulk action must be one of ${BULK_ACTIONS.join(', ')}; got ${JSON.stringify(action)}`);
    const auditAction = `jobs.bulk-${action}`;
    if (!who.reason?.trim()) throw coreErrors.reasonRequired(auditAction);
    if (action === 'priority' && !validPriority(o.priority)) throw rmsErrors.badPriority('bulk priority', o.priority);
    const rule = RULES[action];
    const statuses = filter.status ? filter.status.filter((s) => rule.from.includes(s)) : rule.from;
    if (statuses.length === 0) throw rmsErrors.badParams(`bulk ${action} changes only ${rule.from.join(', ')} jobs; the filter asks for ${filter.status!.join(', ')}`);
    const now = this.d.clock.now();
    const p = await this.query.plan({ ...filter, status: statuses });
    // What the action began with: jobs of later workflows, or that finish later, are not part of it.
    const [newest] = (await newestWorkflow(this.d.db.knex, {})) as { n: number | string | null }[];
    p.set.upTo = Number(newest?.n ?? 0);
    if (p.plan === 'finished') p.conditions.finishedTo = Math.min(p.conditions.finishedTo ?? now + 1, now + 1);

    const { count: matched, exact } = o.accept ? await this.countAccepted(p, o.accept, now) : await this.query.count(p.filter, now);
    const detail = { filter: o.described ?? filter, plan: p.plan, matched, exact, ...(action === 'priority' ? { priority: o.priority } : {}) };
    const audit = (trx: Knex.Transaction) => this.d.audit(trx, { ...who, action: auditAction, target: `${matched}${exact ? '' : '+'} job(s) matching a filter`, detail });
    const result: BulkResult = { action, matched, exact, changed: 0, skipped: 0, batches: 0 };
    let audited = false;
    for await (const slice of this.query.slices(this.d.db.knex, p, 'asc', null, BULK_SPAN, now)) {
      const { changed, skipped, finished } = await transaction(this.d.db, async (trx) => {
        if (!audited) await audit(trx);
        let rows = (await this.query.read(trx, p, slice, 'asc', BULK_SPAN, true)) as JobKeyRow[];
        if (o.accept) rows = rows.filter(o.accept);
        return this.apply(trx, action, rows, who, now, o.priority ?? 0);
      });
      audited = true;
      result.changed += changed;
      result.skipped += skipped;
      result.batches += 1;
      if (finished.length > 0) this.d.onFinished(finished);
      // A turn of the event loop between batches: requests and the dispatcher go on meanwhile (one writer on SQLite).
      await new Promise((r) => setImmediate(r));
    }
    if (!audited) await transaction(this.d.db, audit);
    this.announce(who, result);
    return result;
  }

  /** Changes the priority of the given jobs that wait (Change jobs priority on a selection), as one audited action. */
  async prioritise(ids: number[], priority: number, who: Actor): Promise<{ changed: number; skipped: number[] }> {
    if (!who.reason?.trim()) throw coreErrors.reasonRequired('jobs.priority');
    if (!validPriority(priority)) throw rmsErrors.badPriority('jobs priority', priority);
    const unique = [...new Set(ids)];
    if (unique.length === 0 || unique.length > 1000 || !unique.every((id) => Number.isSafeInteger(id) && id > 0)) {
      throw rmsErrors.badParams('jobs priority: ids must be a list of 1 to 1000 job ids');
    }
    return transaction(this.d.db, async (trx) => {
      const changed = Number(await setJobsPriority(trx, { ids: unique, priority }));
      const rows = (await selectJobKeys(trx, { ids: unique })) as JobKeyRow[];
      const waiting = new Set(rows.filter((r) => RULES.priority.from.includes(r.status as JobStatus)).map((r) => Number(r.id)));
      const skipped = unique.filter((id) => !waiting.has(id));
      await this.d.audit(trx, { ...who, action: 'jobs.priority', target: `${changed} job(s)`, detail: { ids: unique, priority, changed, skipped } });
      return { changed, skipped };
    });
  }

  /** Counts what `accept` takes of a plan's jobs, slice by slice. */
  private async countAccepted(p: Planned, accept: (row: JobKeyRow) => boolean, now: number): Promise<{ count: number; exact: boolean }> {
    let count = 0;
    for await (const slice of this.query.slices(this.d.db.knex, p, 'asc', null, BULK_SPAN, now)) {
      count += ((await this.query.read(this.d.db.knex, p, slice, 'asc', BULK_SPAN, true)) as JobKeyRow[]).filter(accept).length;
    }
    return { count, exact: true };
  }

  private async apply(trx: Knex.Transaction, action: BulkAction, rows: JobKeyRow[], who: Actor, now: number, priority: number): Promise<{ changed: number; skipped: number; finished: Finished[] }> {
    if (rows.length === 0) return { changed: 0, skipped: 0, finished: [] };
    if (action === 'priority') {
      let changed = 0;
      for (const part of chunks(rows.map((r) => Number(r.id)))) changed += Number(await setJobsPriority(trx, { ids: part, priority }));
      return { changed, skipped: 0, finished: [] };
    }
    const rule = RULES[action];
    const work = new JobWork(trx);
    const finished: Finished[] = [];
    let changed = 0;
    let skipped = 0;
    // Workflows locked in id order, as every transaction that locks several does.
    const byWorkflow = [...groupBy(rows, (r) => Number(r.workflowid))].sort((a, b) => a[0] - b[0]);
    for (const [workflowid, jobs] of byWorkflow) {
      const [row] = (await lockWorkflow(trx, { id: workflowid })) as LockedWorkflow[];
      if (!row || !rule.workflows!.includes(row.status)) {
        skipped += jobs.length;
        continue;
      }
      const wf = { ...row, id: Number(row.id) };
      for (const [from, ofState] of groupBy(jobs, (j) => j.status as JobStatus)) {
        const refs = ofState.map(ref);
        if (action === 'cancel') changed += await work.move(refs, from, 'CANCELLED', { endtime: now, lease_until: null, reason: `cancelled by ${who.username}` });
        else changed += await reopenJobs(work, wf, refs, from as 'FAILED' | 'CANCELLED', now);
      }
      const done = await settleWorkflow(work, this.d.bus, wf.id, now);
      if (done) finished.push(done);
    }
    await work.flushCounts();
    return { changed, skipped, finished };
  }
}
