import type { Knex } from 'knex';
import { chunks, IN_LIST_MAX } from '../../core/query.js';
import { addToCount, countsOfSteps } from './sql/jobCounts.js';
import { moveJobs, type PerJob } from './sql/jobs.js';

/** The states of a job (rms_job.status). The migrations keep frozen copies of the lists they wrote. */
export const JOB_STATUSES = ['WAITING', 'READY', 'CLAIMED', 'RUNNING', 'RETRY_WAIT', 'SUCCESS', 'FAILED', 'CANCELLED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
/** The states a job ends in; a step and a workflow end in the same ones. */
/** A workflow's states: it is created RUNNING; an operator pauses and resumes it. */
export const WORKFLOW_STATUSES = ['RUNNING', 'PAUSED', 'SUCCESS', 'FAILED', 'CANCELLED'] as const;

export const FINISHED = ['SUCCESS', 'FAILED', 'CANCELLED'] as const satisfies readonly JobStatus[];
export type FinishedStatus = (typeof FINISHED)[number];
export const ACTIVE: readonly JobStatus[] = JOB_STATUSES.filter((s) => !isFinished(s));

export function isFinished(status: string): status is FinishedStatus {
  return (FINISHED as readonly string[]).includes(status);
}

/** A job as a change needs to know it: where it is, and in which state. */
export interface JobRef {
  id: number;
  workflowid: number;
  stepid: number;
}

/** A job as its holder knows it: with the claim it holds (rms_job.claim), which fences its moves. */
export interface HeldRef extends JobRef {
  claim: number;
}

/** A job reference from a row, whose ids may come back as text or bigint. */
export function ref(r: { [K in keyof JobRef]: number | string | bigint }): JobRef {
  return { id: Number(r.id), workflowid: Number(r.workflowid), stepid: Number(r.stepid) };
}

/**
 * The job changes of one transaction and the per-step counts that go with them
 * (rms_job_count), written in the same transaction: a workflow's counts are always those
 * of its jobs, and no row is shared by all workflows. Counts are applied in (step, state)
 * order, the same in every process, so that two transactions never wait on each other in a circle.
 */
export class JobWork {
  private readonly deltas = new Map<string, { stepid: number; status: JobStatus; delta: number }>();
  /** Steps whose jobs changed: the bookkeeping looks at them afterwards. */
  readonly touched = new Map<number, number>();
  /** Steps one of whose active states was counted down to no job: only these may have settled. */
  readonly emptied = new Set<number>();

  constructor(readonly trx: Knex.Transaction) {}

  /**
   * Moves jobs of any steps from one state to another, with `set` written alongside.
   * `fenced` moves only the jobs still at the claim each `HeldRef` names: a holder's move,
   * which must change nothing once its claim was handed back. Returns how many moved.
   */
  async move(
    jobs: readonly JobRef[] | readonly HeldRef[],
    from: JobStatus,
    to: JobStatus,
    set: Record<string, unknown> = {},
    fenced = false,
    increment: ('attempts' | 'handbacks')[] = [],
    perJob: PerJob = {},
  ): Promise<number> {
    let moved = 0;
    const claims = fenced ? new Map((jobs as readonly HeldRef[]).map((j) => [j.id, j.claim])) : null;
    for (const [stepid, ofStep] of groupBy(jobs as readonly JobRef[], (j) => j.stepid)) {
      // Fewer ids per statement when each carries its own values: two more parameters per column.
      const size = Object.keys(perJob).length > 0 || fenced ? Math.floor(IN_LIST_MAX / 2) : IN_LIST_MAX;
      for (const part of chunks(ofStep.map((j) => j.id).sort((a, b) => a - b), size)) {
        const n = Number(await moveJobs(this.trx, { ids: part, from, to, set, claims, increment, perJob }));
        if (n > 0) this.count(ofStep[0].workflowid, stepid, from, to, n);
        moved += n;
      }
    }
    return moved;
  }

  /** Records `n` jobs of a step moved from one state to another. */
  count(workflowid: number, stepid: number, from: JobStatus | null, to: JobStatus, n: number): void {
    if (from !== null) this.add(stepid, from, -n);
    this.add(stepid, to, n);
    this.touched.set(stepid, workflowid);
  }

  private add(stepid: number, status: JobStatus, delta: number): void {
    const key = `${stepid}|${status}`;
    const d = this.deltas.get(key) ?? { stepid, status, delta: 0 };
    d.delta += delta;
    this.deltas.set(key, d);
  }

  /** Writes the count changes so far. */
  async flushCounts(): Promise<void> {
    const pending = [...this.deltas.values()].filter((d) => d.delta !== 0).sort((a, b) => a.stepid - b.stepid || a.status.localeCompare(b.status));
    this.deltas.clear();
    for (const d of pending) {
      const result = (await addToCount(this.trx, d)) as { jobs: number | string }[] | number;
      // Without the new value (Oracle), a count taken down may have reached zero.
      const reachedZero = Array.isArray(result) ? Number(result[0]?.jobs) === 0 : d.delta < 0;
      if (ACTIVE.includes(d.status) && reachedZero) this.emptied.add(d.stepid);
    }
  }

  /** Jobs per state of each step, after the changes of this transaction. */
  async counts(stepids: number[]): Promise<Map<number, Record<JobStatus, number>>> {
    await this.flushCounts();
    const out = new Map<number, Record<JobStatus, number>>();
    for (const part of chunks(stepids)) {
      for (const r of (await countsOfSteps(this.trx, { stepids: part })) as { stepid: number; status: JobStatus; jobs: number }[]) {
        const c = out.get(Number(r.stepid)) ?? emptyCounts();
        c[r.status] = Number(r.jobs);
        out.set(Number(r.stepid), c);
      }
    }
    return out;
  }
}

export function emptyCounts(): Record<JobStatus, number> {
  return { WAITING: 0, READY: 0, CLAIMED: 0, RUNNING: 0, RETRY_WAIT: 0, SUCCESS: 0, FAILED: 0, CANCELLED: 0 };
}

export function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const out = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}
