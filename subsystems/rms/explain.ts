import type { Clock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import { rmsErrors } from './errors.js';
import type { JobQueue } from './queue.js';
import { PASS_SCALE, type ShareConfig } from './share.js';
import { countAhead, selectJobForWhy } from './sql/explain.js';
import { countsOfWorkflow } from './sql/jobCounts.js';
import { selectStepDeps, selectSteps, type StepRow } from './sql/steps.js';
import { selectWorkflow, type WorkflowRow } from './sql/workflows.js';
import { ACTIVE, emptyCounts, type JobStatus } from './work.js';

/**
 * What an executor subsystem knows of a pool, for "why is this job not running?": RMS
 * declares it, PFS provides it (`RmsService.usePoolFacts`), so RMS imports nothing of PFS.
 */
export interface PoolFacts {
  pool(name: string, job: { tasktype: string; cpus: number; memory_mb: number | null }): Promise<{
    drained: { by: string; since: number; reason: string | null } | null;
    /** What this process's executor serving the pool has free; null when none of this process serves it. */
    executor: {
      places: number;
      free: number;
      cpuBudget: number;
      cpusInUse: number;
      memoryBudgetMb: number;
      memoryInUseMb: number;
      /** Jobs this process claimed that wait for CPUs or memory to start: it claims none meanwhile. */
      waitingForRoom: number;
      /** Whether the job's declared CPUs and memory exceed what the budgets have left. */
      cpuShort: boolean;
      memoryShort: boolean;
    } | null;
  }>;
}

/** Why a job does not run, one fact each: a stable code for scripts, and the operator's text. */
export const WHY_CODES = [
  'NOT_WAITING',
  'WORKFLOW_PAUSED',
  'UPSTREAM_NOT_FINISHED',
  'RETRY_BACKOFF',
  'RETRY_DUE',
  'POOL_DRAINED',
  'NO_EXECUTOR_HERE',
  'PLACES_FULL',
  'WAITING_FOR_ROOM',
  'MEMORY_BUDGET',
  'CPU_BUDGET',
  'QUEUE_AHEAD',
  'FAIR_SHARE',
  'NEXT_IN_LINE',
] as const;
export type WhyCode = (typeof WHY_CODES)[number];

export interface WhyReason {
  code: WhyCode;
  text: string;
  /** The facts the text was written from. */
  facts?: Record<string, unknown>;
}

export interface Why {
  jobid: number;
  status: string;
  reasons: WhyReason[];
}

/** Jobs ahead counted at most: past it, "more than". */
const AHEAD_CAP = 10_000;

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/**
 * "Why is this job not running?" from the facts: its workflow, its upstream steps and their
 * counts, its retry delay, its pool, the queue ahead of it, its request's fair share and what
 * this process's executor has free. Each fact that holds it back is one reason; a job nothing
 * holds back is NEXT_IN_LINE.
 */
export class Explain {
  private poolFacts: PoolFacts | undefined;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly queue: JobQueue,
    private readonly share: ShareConfig,
  ) {}

  usePoolFacts(facts: PoolFacts): void {
    this.poolFacts = facts;
  }

  async why(jobid: number): Promise<Why> {
    const knex = this.db.knex;
    const [job] = (await selectJobForWhy(knex, { id: jobid })) as Record<string, string | number | null>[];
    if (!job) throw rmsErrors.jobNotFound(jobid);
    const status = String(job.status) as JobStatus;
    const now = this.clock.now();
    const reasons: WhyReason[] = [];
    const out = (): Why => ({ jobid, status, reasons });
    if (status === 'CLAIMED' || status === 'RUNNING') {
      reasons.push({ code: 'NOT_WAITING', text: `it is ${status}: process ${job.claimed_by} holds it${job.lease_until ? `, its lease until ${iso(Number(job.lease_until))}` : ''}`, facts: { claimedBy: job.claimed_by, leaseUntil: job.lease_until } });
      return out();
    }
    if (!ACTIVE.includes(status)) {
      reasons.push({ code: 'NOT_WAITING', text: `it ended ${status}${job.endtime ? ` at ${iso(Number(job.endtime))}` : ''}${job.reason ? `: ${job.reason}` : ''}; retry it to run it again`, facts: { endtime: job.endtime, reason: job.reason } });
      return out();
    }
    const workflowid = Number(job.workflowid);
    const [wf] = (await selectWorkflow(knex, { id: workflowid })) as WorkflowRow[];
    if (wf?.status === 'PAUSED') reasons.push({ code: 'WORKFLOW_PAUSED', text: `its workflow ${wf.name} (${workflowid}) is PAUSED${wf.reason ? ` (${wf.reason})` : ''}: resume the workflow`, facts: { workflowid } });

    if (status === 'WAITING') await this.upstream(workflowid, Number(job.stepid), reasons);
    if (status === 'RETRY_WAIT') {
      const until = Number(job.run_after);
      const facts = { until, attempts: Number(job.attempts), maxAttempts: Number(job.max_attempts), reason: job.reason };
      if (until > now) reasons.push({ code: 'RETRY_BACKOFF', text: `attempt ${job.attempts} of ${job.max_attempts} failed (${job.reason ?? 'no reason'}); it waits out its retry delay until ${iso(until)}`, facts });
      else reasons.push({ code: 'RETRY_DUE', text: `its retry delay ended at ${iso(until)}; the retry timer makes it READY within rms.reapMs`, facts });
    }

    const pool = String(job.pool);
    const needs = { tasktype: String(job.tasktype), cpus: Number(job.cpus), memory_mb: job.memory_mb === null ? null : Number(job.memory_mb) };
    const facts = this.poolFacts ? await this.poolFacts.pool(pool, needs) : null;
    if (facts?.drained) reasons.push({ code: 'POOL_DRAINED', text: `pool ${pool} is DRAINED since ${iso(facts.drained.since)} by ${facts.drained.by}${facts.drained.reason ? ` (${facts.drained.reason})` : ''}: no process claims its jobs until it is opened`, facts: { pool, ...facts.drained } });
    if (status !== 'READY') return out();

    if (facts && facts.executor === null) reasons.push({ code: 'NO_EXECUTOR_HERE', text: `no executor of this process serves pool ${pool}; it runs when a process that serves it claims it`, facts: { pool } });
    const e = facts?.executor;
    if (e) {
      if (e.waitingForRoom > 0) reasons.push({ code: 'WAITING_FOR_ROOM', text: `this process's ${pool} executor holds ${e.waitingForRoom} claimed job(s) waiting for CPUs or memory; it claims no more until they start`, facts: { ...e } });
      if (e.free === 0) reasons.push({ code: 'PLACES_FULL', text: `all ${e.places} places of this process's ${pool} executor are in use`, facts: { ...e } });
      if (e.memoryShort) {
        reasons.push({ code: 'MEMORY_BUDGET', text: `it needs ${needs.memory_mb} MiB; ${e.memoryInUseMb} of the ${e.memoryBudgetMb} MiB memory budget of this process's executor are in use`, facts: { needMb: needs.memory_mb, ...e } });
      }
      if (e.cpuShort) {
        reasons.push({ code: 'CPU_BUDGET', text: `it needs ${needs.cpus} CPU(s); ${e.cpusInUse} of the ${e.cpuBudget} CPUs of this process's executor are in use`, facts: { needCpus: needs.cpus, ...e } });
      }
    }

    const priority = Number(job.priority);
    const count = async (higher: boolean) => Number(((await countAhead(knex, { pool, priority, id: jobid, shareid: Number(job.shareid), higher, cap: AHEAD_CAP })) as { n: number | string }[])[0]?.n ?? 0);
    const higher = await count(true);
    const older = await count(false);
    if (higher + older > 0) {
      const more = (n: number) => (n > AHEAD_CAP ? `more than ${AHEAD_CAP}` : String(n));
      reasons.push({ code: 'QUEUE_AHEAD', text: `${more(higher)} READY job(s) of higher priority than ${priority} and ${more(older)} older one(s) of its priority and request are ahead of it in pool ${pool}`, facts: { higher, older, capped: higher > AHEAD_CAP || older > AHEAD_CAP } });
    }
    await this.fairShare(pool, Number(job.shareid), reasons);
    if (reasons.length === 0) reasons.push({ code: 'NEXT_IN_LINE', text: `nothing holds it back: it is claimed at the next turn of a process that serves pool ${pool}`, facts: { pool } });
    return out();
  }

  /** A WAITING job's upstream steps that have not succeeded, with how many of their jobs are left. */
  private async upstream(workflowid: number, stepid: number, reasons: WhyReason[]): Promise<void> {
    const knex = this.db.knex;
    const steps = new Map(((await selectSteps(knex, { workflowid })) as StepRow[]).map((s) => [Number(s.id), s]));
    const ups = ((await selectStepDeps(knex, { workflowid })) as { stepid: number; upstreamid: number }[]).filter((d) => Number(d.stepid) === stepid).map((d) => Number(d.upstreamid));
    const counts = new Map<number, Record<JobStatus, number>>();
    for (const r of (await countsOfWorkflow(knex, { workflowid })) as { stepid: number; status: JobStatus; jobs: number }[]) {
      const c = counts.get(Number(r.stepid)) ?? emptyCounts();
      c[r.status] = Number(r.jobs);
      counts.set(Number(r.stepid), c);
    }
    const waitingOn = ups
      .map((id) => steps.get(id)!)
      .filter((s) => s && s.status !== 'SUCCESS')
      .map((s) => {
        const c = counts.get(Number(s.id)) ?? emptyCounts();
        const left = ACTIVE.reduce((n, st) => n + c[st], 0);
        const total = Object.values(c).reduce((n, v) => n + v, 0);
        return { step: s.name, status: s.status, left, total, counts: c };
      });
    if (waitingOn.length === 0) return;
    const text = waitingOn
      .map((s) => {
        const active = ACTIVE.filter((st) => s.counts[st] > 0).map((st) => `${s.counts[st]} ${st}`).join(', ');
        if (s.status === 'FAILED' || s.status === 'CANCELLED') return `step ${s.step} ended ${s.status} (${s.counts.FAILED} FAILED, ${s.counts.CANCELLED} CANCELLED of ${s.total}): resume or retry its jobs`;
        return `step ${s.step} is ${s.status}: ${s.left} of its ${s.total} job(s) not finished${active ? ` (${active})` : ''}`;
      })
      .join('; ');
    reasons.push({ code: 'UPSTREAM_NOT_FINISHED', text: `it runs after ${text}`, facts: { steps: waitingOn } });
  }

  /** Whether the job's request has had more of the pool than the others with jobs of the same best priority (share.ts). */
  private async fairShare(pool: string, shareid: number, reasons: WhyReason[]): Promise<void> {
    const shares = await this.queue.shares(this.db.knex, pool);
    const mine = shares.find((s) => s.shareid === shareid);
    if (!mine) return;
    const top = Math.max(...shares.map((s) => s.best));
    const rivals = shares.filter((s) => s.shareid !== shareid && s.best === top);
    if (mine.best !== top || rivals.length === 0) return;
    const front = Math.max(0, ...shares.map((s) => s.pass ?? 0));
    const floor = front - Math.round(this.share.credit * PASS_SCALE);
    const at = (s: { pass: number | null }) => Math.max(s.pass ?? floor, floor);
    const lowest = Math.min(...rivals.map(at));
    if (at(mine) <= lowest) return;
    reasons.push({
      code: 'FAIR_SHARE',
      text: `its request (share ${shareid}) has had more of pool ${pool} than ${rivals.length} other request(s) with jobs of priority ${top}: it is served again once they have had theirs (pass ${at(mine)} against ${lowest}, weight ${mine.weight})`,
      facts: { shareid, pass: at(mine), lowest, weight: mine.weight, rivals: rivals.map((s) => s.shareid) },
    });
  }
}
