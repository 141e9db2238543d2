import type { Knex } from 'knex';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import { chunks, dialectOf } from '../../core/query.js';
import type { Bus } from '../ems/index.js';
import { advance, type Finished } from './bookkeeping.js';
import { planClaim, shareWeight, type ClaimPlan, type ShareConfig, type ShareState } from './share.js';
import { claimedColumns, claimJobs, claimJobsCounted, forgiveLapses, renewJobLeases, selectClaimable, selectDueRetries, selectJobClaims, selectToHandBack, type PerJob, type PerJobColumn } from './sql/jobs.js';
import { addSharePass, nextShare, selectShares, SHARES_MAX } from './sql/shares.js';
import { selectWorkflowParams } from './sql/workflows.js';
import { groupBy, JobWork, ref, type HeldRef } from './work.js';

/** A claimed job, as an executor receives it: its claim fences every move and outcome of this run. */
export interface ClaimedJob extends HeldRef {
  tasktype: string;
  dataspec: string | null;
  priority: number;
  solutionid: number | null;
  attempts: number;
  max_attempts: number;
  backoff_ms: number;
  timeout_ms: number | null;
  cpus: number;
  memory_mb: number | null;
  /** The workflow's parameters (JSON). */
  params: string | null;
}

interface Measured {
  wallMs?: number;
  cpuMs?: number;
  peakMemMb?: number;
  /** The job's log file, relative to the log directory, if it wrote one. */
  logs?: string;
}

/** How a job ended on its executor. */
export type Outcome =
  | ({ job: ClaimedJob; status: 'SUCCESS'; result?: string } & Measured)
  | ({ job: ClaimedJob; status: 'FAILED'; reason: string } & Measured)
  /** Not the job's fault (its process stops, the worker died under another job): back to the queue, no attempt used. */
  | { job: ClaimedJob; status: 'HANDED_BACK'; reason: string };

type Success = Extract<Outcome, { status: 'SUCCESS' }>;

/** Errors a database raises when two transactions wait on each other: the loser runs again. */
function isDeadlock(err: unknown): boolean {
  const e = err as { code?: string; errorNum?: number };
  return e?.code === '40P01' || e?.code === '40001' || e?.errorNum === 60;
}

/** Work that writes, run again (a few times) when the database chose it as a deadlock's victim. */
async function retryDeadlock<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isDeadlock(err) || attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 5 * attempt + Math.random() * 20));
    }
  }
}

/** A transaction, run again (a few times) when the database chose it as a deadlock's victim. */
export function transaction<T>(db: Db, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  return retryDeadlock(() => db.knex.transaction(fn));
}

const REASON_MAX = 2000;
/** Workflows whose parameters a queue keeps at most. */
const PARAMS_KEPT = 10_000;
/**
 * Rounds of one claim at most: a round gives each share jobs of one priority, and a share
 * with fewer of them than its part leaves the rest to the next round.
 */
const CLAIM_ROUNDS = 4;

/**
 * The durable job queue (rms_job): claims by priority then age, leases renewed by a
 * heartbeat, completion that is idempotent (only the holder of a job finishes it, once).
 * Each change writes the per-step counts and advances the workflows in its transaction.
 */
export class JobQueue {
  /** Jobs this process recorded as RUNNING and has not yet recorded as ended. */
  private readonly running = new Set<number>();
  /** Parameters of the workflows whose jobs this process claimed lately. */
  private readonly params = new Map<number, string | null>();

  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly clock: Clock,
    private readonly processId: string,
    private readonly leaseMs: number,
    /** Times a job may be handed back after its process died before it fails instead. */
    private readonly maxHandbacks: number,
    /** Called after commit with the workflows that ended. */
    private readonly onFinished: (finished: Finished[]) => void,
    /** How a pool's places are shared between requests (rms.share). */
    private readonly share: ShareConfig,
  ) {}

  /** Claims up to `limit` READY jobs of a pool for this process. */
  claim(pool: string, limit: number): Promise<ClaimedJob[]> {
    return this.turn({ started: [], outcomes: [], pool, limit });
  }

  /** Records what executors did (see `turn`). */
  async record(started: readonly ClaimedJob[], outcomes: readonly Outcome[]): Promise<void> {
    await this.turn({ started, outcomes, pool: '', limit: 0 });
  }

  /**
   * What an executor does at each turn, in one transaction: records the jobs seen starting
   * and the jobs that ended, claims up to `limit` READY jobs of `pool`, then advances the
   * workflows (the jobs of a step this starts are claimed at the next turn). One
   * transaction, not two: its claims and its records would otherwise wait on each other's
   * per-step counts.
   *
   * A job that ended before its start was recorded goes from CLAIMED straight to its end
   * (a short job is never seen RUNNING: one write fewer). Every move is fenced by the job's
   * claim: a job whose claim this run no longer holds (cancelled, or handed back after its
   * lease lapsed, and perhaps claimed again since, by this process or another) is left as
   * it is, and its outcome dropped. `alongside` writes the executor's own rows (log files) in
   * the same transaction. On PostgreSQL a claim with nothing to record is one statement
   * instead (`claimJobsCounted`).
   */
  async turn(o: {
    started: readonly ClaimedJob[];
    outcomes: readonly Outcome[];
    pool: string;
    limit: number;
    alongside?: (trx: Knex.Transaction) => Promise<void>;
  }): Promise<ClaimedJob[]> {
    if (o.started.length === 0 && o.outcomes.length === 0 && !o.alongside && o.limit > 0 && this.db.dialect === 'postgresql') return this.claimAlone(o.pool, o.limit);
    const ended = new Set(o.outcomes.map((x) => x.job.id));
    const stillRunning = o.started.filter((j) => !ended.has(j.id));
    const { claimed, finished } = await transaction(this.db, async (trx) => {
      const now = this.clock.now();
      const work = new JobWork(trx);
      await o.alongside?.(trx);
      if (stillRunning.length > 0) await work.move(stillRunning, 'CLAIMED', 'RUNNING', {}, true);
      await this.settleOutcomes(work, o.outcomes, now);
      const claimed = o.limit > 0 ? await this.claimIn(work, o.pool, o.limit, now) : [];
      // Counts last (advance writes them): each process's turns wait on each other's count rows, held only from here to the commit.
      const finished = work.touched.size > 0 ? await advance(work, this.bus, now) : [];
      return { claimed, finished };
    });
    for (const j of stillRunning) this.running.add(j.id);
    for (const id of ended) this.running.delete(id);
    if (finished.length > 0) this.onFinished(finished);
    return claimed;
  }

  private claimParams(now: number, pool: string, plan: ClaimPlan) {
    return { pool, legs: plan.legs, claimedBy: this.processId, leaseUntil: now + this.leaseMs, now };
  }

  /**
   * Claims in rounds, each shared out between the pool's shares that have READY jobs
   * (`planClaim`), until `limit` jobs are claimed, none are left, or a round finds none.
   */
  private async claimRounds(knex: Knex | Knex.Transaction, pool: string, limit: number, round: (plan: ClaimPlan) => Promise<ClaimRow[]>): Promise<ClaimRow[]> {
    const rows: ClaimRow[] = [];
    for (let n = 0; n < CLAIM_ROUNDS && rows.length < limit; n++) {
      const plan = planClaim(await this.shares(knex, pool), limit - rows.length, this.share.credit);
      if (plan.legs.length === 0) break;
      const claimed = await round(plan);
      rows.push(...claimed);
      // A leg without a bound on priority took all it could: nothing is left for another round.
      if (claimed.length === 0 || plan.legs.every((l) => l.priority === null && l.above === null)) break;
    }
    return rows;
  }

  /** The shares of a pool that have READY jobs (see `selectShares`). */
  async shares(knex: Knex | Knex.Transaction, pool: string): Promise<ShareState[]> {
    let ids: number[] | null = null;
    if (dialectOf(knex) === 'oracle') {
      ids = [];
      for (let after = 0; ids.length < SHARES_MAX; ) {
        const [row] = (await nextShare(knex, { pool, after })) as { shareid: number | string | null }[];
        if (row?.shareid == null) break;
        after = Number(row.shareid);
        ids.push(after);
      }
      if (ids.length === 0) return [];
    }
    type Row = { shareid: number | string; trigger_kind: string; name: string; pass: number | string | null; best: number | string | null };
    return ((await selectShares(knex, { pool, ids })) as Row[])
      .filter((r) => r.best !== null)
      .map((r) => ({ shareid: Number(r.shareid), best: Number(r.best), pass: r.pass === null ? null : Number(r.pass), weight: shareWeight(this.share, r.trigger_kind, r.name) }));
  }

  private async claimIn(work: JobWork, pool: string, limit: number, now: number): Promise<ClaimedJob[]> {
    const rows = await this.claimRounds(work.trx, pool, limit, async (plan) => {
      const claim = this.claimParams(now, pool, plan);
      let rows: ClaimRow[];
      if (dialectOf(work.trx) === 'oracle') {
        rows = (await selectClaimable(work.trx, claim)) as ClaimRow[];
        await work.move(rows.map(ref), 'READY', 'CLAIMED', claimedColumns(work.trx, claim));
        rows = rows.map((r) => ({ ...r, claim: Number(r.claim) + 1 }));
      } else {
        rows = (await claimJobs(work.trx, claim)) as ClaimRow[];
        for (const ofStep of groupBy(rows, (r) => Number(r.stepid)).values()) work.count(Number(ofStep[0].workflowid), Number(ofStep[0].stepid), 'READY', 'CLAIMED', ofStep.length);
      }
      for (const [shareid, ofShare] of groupBy(rows, (r) => Number(r.shareid))) {
        await addSharePass(work.trx, { pool, shareid, floor: plan.floor, add: ofShare.length * (plan.perJob.get(shareid) ?? 0) });
      }
      return rows;
    });
    return this.toClaimedJobs(work.trx, rows);
  }

  /** A claim with nothing to record, on PostgreSQL: one statement a round (see `claimJobsCounted`). */
  private async claimAlone(pool: string, limit: number): Promise<ClaimedJob[]> {
    const rows = await this.claimRounds(this.db.knex, pool, limit, async (plan) => {
      const perJob = plan.legs.map((l) => ({ shareid: l.shareid, add: plan.perJob.get(l.shareid) ?? 0 }));
      const result = await retryDeadlock(() => claimJobsCounted(this.db.knex, { ...this.claimParams(this.clock.now(), pool, plan), floor: plan.floor, perJob }));
      return (result as unknown as { rows: ClaimRow[] }).rows;
    });
    return this.toClaimedJobs(this.db.knex, rows);
  }

  /** The claimed rows as executors receive them, in claim order, each with its workflow's parameters. */
  private async toClaimedJobs(knex: Knex | Knex.Transaction, rows: ClaimRow[]): Promise<ClaimedJob[]> {
    const unknown = [...new Set(rows.map((r) => Number(r.workflowid)))].filter((id) => !this.params.has(id));
    for (const part of chunks(unknown)) {
      for (const w of (await selectWorkflowParams(knex, { ids: part })) as { id: number; params: string | null }[]) this.remember(Number(w.id), w.params);
    }
    return rows.map((r) => toClaimed(r, this.params.get(Number(r.workflowid)) ?? null)).sort((a, b) => b.priority - a.priority || a.id - b.id);
  }

  /** A workflow's parameters never change: kept, for the next claims of its jobs. */
  private remember(workflowid: number, params: string | null): void {
    if (this.params.size >= PARAMS_KEPT) this.params.clear();
    this.params.set(workflowid, params);
  }

  private async settleOutcomes(work: JobWork, outcomes: readonly Outcome[], now: number): Promise<void> {
    // All successes in one statement; the figures that differ from job to job go in perJob.
    const successes = outcomes.filter((o): o is Success => o.status === 'SUCCESS');
    if (successes.length > 0) {
      const set: Record<string, unknown> = { endtime: now, lease_until: null, reason: null };
      const perJob: PerJob = {};
      for (const [column, value] of Object.entries(SUCCESS_COLUMNS) as [PerJobColumn, (o: Success) => string | number | null][]) {
        const values = successes.map(value);
        if (values.every((v) => v === values[0])) set[column] = values[0];
        else perJob[column] = new Map(successes.map((o, i) => [o.job.id, values[i]]));
      }
      await this.settle(work, successes.map((o) => o.job), 'SUCCESS', set, ['attempts'], perJob);
    }
    for (const o of outcomes) {
      if (o.status === 'FAILED') {
        const used = o.job.attempts + 1;
        const measured = { ...measuredColumns(o), lease_until: null };
        const reason = o.reason.slice(0, REASON_MAX);
        if (used < o.job.max_attempts) {
          const runAfter = now + o.job.backoff_ms * 2 ** (used - 1);
          await this.settle(work, [o.job], 'RETRY_WAIT', { ...measured, reason, run_after: runAfter, claimed_by: null }, ['attempts']);
        } else {
          const n = await this.settle(work, [o.job], 'FAILED', { ...measured, reason, endtime: now }, ['attempts']);
          if (n > 0) await this.bus.publish(work.trx, 'job.finished', { jobid: o.job.id, workflowid: o.job.workflowid, status: 'FAILED', reason });
        }
      } else if (o.status === 'HANDED_BACK') {
        // Its holder is alive, handing it back: no death to count towards maxHandbacks.
        await this.settle(work, [o.job], 'READY', { claimed_by: null, lease_until: null, reason: o.reason.slice(0, REASON_MAX) }, []);
      }
    }
  }

  /**
   * Moves held jobs to their end: from RUNNING those this process recorded as running,
   * from CLAIMED the others; a job found in the other held state (this process restarted
   * its bookkeeping) is moved from there.
   */
  private async settle(
    work: JobWork,
    jobs: readonly ClaimedJob[],
    to: 'SUCCESS' | 'FAILED' | 'RETRY_WAIT' | 'READY',
    set: Record<string, unknown>,
    increment: ('attempts' | 'handbacks')[],
    perJob: PerJob = {},
  ): Promise<number> {
    let moved = 0;
    for (const [from, group] of groupBy(jobs, (j) => (this.running.has(j.id) ? 'RUNNING' : 'CLAIMED'))) {
      const n = await work.move(group, from, to, set, true, increment, perJob);
      moved += n === group.length ? n : n + (await work.move(group, from === 'CLAIMED' ? 'RUNNING' : 'CLAIMED', to, set, true, increment, perJob));
    }
    return moved;
  }

  /**
   * Renews the leases of the jobs this process runs (claimed or running, at any claim it
   * holds); the others it may still hold in the database lapse and are handed back.
   */
  async renew(ids: readonly number[]): Promise<void> {
    const until = this.clock.now() + this.leaseMs;
    // One statement even for no job: a renewal that succeeds says the database answers.
    for (const part of ids.length > 0 ? chunks(ids) : [[]]) await renewJobLeases(this.db.knex, { ids: part, claimedBy: this.processId, until });
  }

  /** Of the given runs, those this process must stop: cancelled, or their claim no longer its own. */
  async handedAway(runs: readonly { id: number; claim: number }[]): Promise<Set<number>> {
    const out = new Set<number>();
    for (const part of chunks(runs)) {
      const rows = new Map(((await selectJobClaims(this.db.knex, { ids: part.map((r) => r.id) })) as { id: number; status: string; claimed_by: string | null; claim: number }[]).map((r) => [Number(r.id), r]));
      for (const run of part) {
        const row = rows.get(run.id);
        if (!row || (row.status !== 'CLAIMED' && row.status !== 'RUNNING') || row.claimed_by !== this.processId || Number(row.claim) !== run.claim) out.add(run.id);
      }
    }
    return out;
  }

  /**
   * Hands back the jobs whose holder stopped renewing their lease: READY again, or WAITING in
   * a paused workflow; no attempt is used. The hand-back counts towards `maxHandbacks`: a job whose
   * processes died under it `maxHandbacks` times fails instead, as it may be what kills them.
   * It does not count when the holder beat in smas_process after the lease lapsed: alive.
   * A holder that was only cut off or frozen takes its counts back when it returns
   * (`forgiveLapses`). Returns how many moved.
   */
  async handBackLapsed(limit = 500): Promise<number> {
    return this.toReady(selectToHandBack, limit, { claimed_by: null, lease_until: null, reason: 'handed back: the process running it stopped renewing its lease' }, true);
  }

  /**
   * This process is alive after all: it let job leases lapse (its link was cut, or it was
   * frozen) and stopped those runs itself. The hand-backs the reaper made of them no longer
   * count towards `maxHandbacks`.
   */
  async forgiveLapses(): Promise<number> {
    return Number(await forgiveLapses(this.db.knex, { processId: this.processId }));
  }

  /** Puts jobs whose retry delay is over back in the queue. */
  async promoteRetries(limit = 500): Promise<number> {
    return this.toReady(selectDueRetries, limit, {}, false);
  }

  /** The jobs `select` finds back in the queue (WAITING in a paused workflow); `lapsed`: hand-backs of lapsed leases, counted. */
  private async toReady(select: typeof selectToHandBack, limit: number, set: Record<string, unknown>, lapsed: boolean): Promise<number> {
    type Row = HeldRef & { status: 'CLAIMED' | 'RUNNING' | 'RETRY_WAIT'; wfstatus: string; handbacks: number; claimed_by: string | null; counted: boolean };
    const { moved, finished } = await transaction(this.db, async (trx) => {
      const now = this.clock.now();
      const rows: Row[] = ((await select(trx, { now, limit })) as Row[]).map((r) => ({
        ...ref(r),
        claim: Number(r.claim),
        status: r.status,
        wfstatus: r.wfstatus,
        handbacks: Number(r.handbacks ?? 0),
        claimed_by: r.claimed_by ?? null,
        // A holder that beat after its lease lapsed is alive (a flapping link, a slow renewal): no death to count.
        counted: lapsed && Number((r as { holder_alive?: unknown }).holder_alive ?? 0) !== 1,
      }));
      const work = new JobWork(trx);
      let n = 0;
      const poison = (r: Row) => r.counted && r.handbacks + 1 >= this.maxHandbacks;

      // By holder: the one whose lease lapsed is recorded, so that, if it comes back, it can take the count back.
      for (const [key, group] of groupBy(rows.filter((r) => !poison(r)), (r) => `${r.status}|${r.wfstatus === 'PAUSED' ? 'WAITING' : 'READY'}|${r.claimed_by ?? ''}|${r.counted}`)) {
        const [from, to] = key.split('|') as ['CLAIMED' | 'RUNNING' | 'RETRY_WAIT', 'WAITING' | 'READY'];
        const counted = group[0].counted;
        n += await work.move(group, from, to, counted ? { ...set, lapsed_by: group[0].claimed_by } : set, true, counted ? ['handbacks'] : []);
      }
      for (const r of rows.filter(poison)) {
        const reason = `the processes running it died ${r.handbacks + 1} times (rms.maxHandbacks): it fails so as not to take more down`;
        if ((await work.move([r], r.status, 'FAILED', { lease_until: null, endtime: now, reason }, true, ['handbacks'])) === 0) continue;
        n += 1;
        await this.bus.publish(trx, 'job.finished', { jobid: r.id, workflowid: r.workflowid, status: 'FAILED', reason });
      }
      return { moved: n, finished: await advance(work, this.bus, now) };
    });
    if (finished.length > 0) this.onFinished(finished);
    return moved;
  }
}

/** What an executor measured of a job, by rms_job column: a failure writes these, a success these and its result. */
const MEASURED_COLUMNS = {
  wall_ms: (o: Measured) => o.wallMs ?? null,
  cpu_ms: (o: Measured) => o.cpuMs ?? null,
  peak_mem_mb: (o: Measured) => o.peakMemMb ?? null,
  logs: (o: Measured) => o.logs ?? null,
};

const SUCCESS_COLUMNS: Record<PerJobColumn, (o: Success) => string | number | null> = { result: (o) => o.result ?? null, ...MEASURED_COLUMNS };

function measuredColumns(o: Measured): Record<keyof typeof MEASURED_COLUMNS, string | number | null> {
  const out = {} as Record<keyof typeof MEASURED_COLUMNS, string | number | null>;
  for (const [column, value] of Object.entries(MEASURED_COLUMNS) as [keyof typeof MEASURED_COLUMNS, (o: Measured) => string | number | null][]) out[column] = value(o);
  return out;
}

/** A claimed job as the database returns it: numbers may come back as text or bigint. */
type ClaimRow = { [K in keyof Omit<ClaimedJob, 'params'>]: ClaimedJob[K] | string | bigint } & { shareid: number | string | null };

/** One object per job, written out: the claim makes hundreds at a time. */
function toClaimed(r: ClaimRow, params: string | null): ClaimedJob {
  return {
    id: Number(r.id),
    workflowid: Number(r.workflowid),
    stepid: Number(r.stepid),
    tasktype: String(r.tasktype),
    dataspec: r.dataspec === null ? null : String(r.dataspec),
    priority: Number(r.priority),
    solutionid: r.solutionid === null ? null : Number(r.solutionid),
    attempts: Number(r.attempts),
    max_attempts: Number(r.max_attempts),
    backoff_ms: Number(r.backoff_ms),
    timeout_ms: r.timeout_ms === null ? null : Number(r.timeout_ms),
    cpus: Number(r.cpus),
    memory_mb: r.memory_mb === null ? null : Number(r.memory_mb),
    claim: Number(r.claim),
    params,
  };
}
