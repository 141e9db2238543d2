import type { Knex } from 'knex';
import type { Logger } from 'winston';
import type { Config } from '../../config/schema.js';
import type { Clock } from '../../core/clock.js';
import { isOutage } from '../../core/db.js';
import { messageOf } from '../../core/errors.js';
import type { ClaimedJob, Outcome, RmsService } from '../rms/index.js';
import type { LocalExecutor, RunningLog } from './local/executor.js';
import type { EndedLog, JobLogStore } from './logStore.js';

/**
 * The coordinator of this process's local executor: claims READY jobs of the `local` pool
 * as places free up, runs them, and writes what happened in batches. It renews the leases
 * of the jobs it holds and stops those that were cancelled or handed to another process
 * meanwhile.
 *
 * A process that could not renew its job leases for `pfs.leaseLossShare` of the lease time
 * (its database link is cut, or it was frozen) stops every job it runs at once, before the
 * leases can lapse and another process runs them (timed on the monotonic clock, which also
 * runs while the process is stopped), and records nothing for them: the jobs lapse and are
 * handed back. It claims again only once a renewal has succeeded and those runs are gone.
 *
 * On PostgreSQL and Oracle, claims and records are two lanes, each one transaction at a
 * time on a connection of its own (on PostgreSQL a claim is a single statement): the
 * database writes one while this thread prepares or dispatches the other, so neither waits
 * for the other. On SQLite, whose one writer takes
 * transactions in turn anyway, a turn is one transaction: the starts and outcomes gathered
 * since the last, and the next claim (a short job's claim, start and end are three changes
 * but two writes).
 */
/** Told of each claim and of the outcomes once recorded: the metrics (SMAS). */
export interface DispatchObserver {
  claimed(ms: number, jobs: number): void;
  recorded(outcomes: readonly Outcome[]): void;
}

/** How often the lease watchdog looks (STOP_AT_ONCE_MS counts on it). */
const WATCHDOG_MS = 50;
/** For how many leases after its last trouble a process goes on taking back its lapses' hand-backs (see forgiveAt). */
const FORGIVE_LEASES = 12;

export class Dispatcher {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly inFlight = new Map<number, Promise<void>>();
  /** Claimed jobs that wait for the CPUs or memory they declared: they start in claim order. */
  private waiting: ClaimedJob[] = [];
  /**
   * Dispatched jobs neither recorded as RUNNING nor ended, by id: they are written RUNNING
   * once their executor has run them for flushMs. A job leaves when it ends: kept in a map,
   * not copied at each record, they cost nothing while they wait in a thread.
   */
  private readonly dispatched = new Map<number, ClaimedJob>();
  private outcomes: Outcome[] = [];
  /** The logs of runs that ended, written with their outcomes. */
  private logs: EndedLog[] = [];
  /** Extents of running jobs' logs taken from the executor and not yet written (a write failed). */
  private runningLogs: RunningLog[] = [];
  /** Since when changes wait to be written (they are within flushMs); undefined: none. */
  private pendingSince: number | undefined;
  /** The lanes' transactions in flight (two lanes only). */
  private claiming: Promise<unknown> | undefined;
  private recording: Promise<unknown> | undefined;
  /** A claim found the queue empty: the next waits for the poll interval, a record or a poke. */
  private emptyUntil = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private renewing = false;
  // The lease watchdog's times (renewedAt, claimSentAt, leaseLostAt, forgiveAt) are on the
  // monotonic clock, performance.now(): a wall clock stepped (NTP, an operator) must neither
  // hide a lapse nor fake one. Every other time is wall time from the context's clock, the one
  // RMS writes leases and job times with.
  /**
   * When (monotonic ms) the last renewal of the job leases that succeeded was sent, or the
   * process last held no job: every lease it holds runs at least until then + the lease time.
   */
  private renewedAt = performance.now();
  /** Since when (monotonic ms) a claim is in flight: the jobs it brings have leases from then. */
  private claimSentAt: number | undefined;
  /** Since when (monotonic ms) the leases count as lost; undefined: they hold. */
  private leaseLostAt: number | undefined;
  /** Runs stopped because their claim is no longer this run's to finish: nothing is recorded for them. */
  private readonly dropped = new Set<number>();
  /**
   * From when (monotonic ms) to take back the hand-backs counted for the leases this process
   * let lapse (lost, cut off, or a claim whose answer did not come): at each renewal that
   * succeeds from the last trouble on, until FORGIVE_LEASES leases later, so that hand-backs
   * the reaper makes late (on a machine at load 16, four leases after the trouble) are taken
   * back too. Each try is one probe of the partial index rms_job_lapsed_ix. Undefined:
   * nothing to take back.
   */
  private forgiveAt: number | undefined;
  private outageLogged = false;
  drained = false;
  observer: DispatchObserver | undefined;

  constructor(
    private readonly rms: RmsService,
    private readonly executor: LocalExecutor,
    private readonly config: Config,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly store: JobLogStore,
    /** Claims and records in two lanes (see the class); one turn for both on SQLite. */
    private readonly lanes: 1 | 2,
    private readonly pool = 'local',
  ) {}

  start(): void {
    this.running = true;
    // A running job's new lines are recorded at the next write, as a start is.
    this.executor.onRunningLog = () => {
      this.pendingSince ??= this.clock.now();
      this.wake?.();
    };
    this.loop = this.run();
    // Five renewals a lease: with a share of one half, one that fails leaves another before the jobs must stop.
    const every = Math.max(Math.floor(this.config.rms.jobLeaseMs / 5), 100);
    this.heartbeat = setInterval(() => void this.beat(), every);
    this.heartbeat.unref();
    this.watchdog = setInterval(() => this.checkLeases(), WATCHDOG_MS);
    this.watchdog.unref();
  }

  /** Claimed jobs that wait for CPUs or memory to start: no claim is made meanwhile. */
  get waitingForRoom(): number {
    return this.waiting.length;
  }

  /** Asks the loop to look for work now (the queue was filled, a pool opened). */
  poke(): void {
    this.emptyUntil = 0;
    this.wake?.();
  }

  /**
   * Stops claiming; jobs still running after `graceMs` are stopped and handed back to the
   * queue (no attempt used), so another process or the next start runs them.
   */
  async stop(graceMs: number): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await Promise.all([this.claiming, this.recording]);
    for (const job of this.waiting) this.outcomes.push({ job, status: 'HANDED_BACK', reason: 'handed back: the DPC process is stopping' });
    this.waiting = [];
    const all = Promise.all(this.inFlight.values());
    const late = await Promise.race([all.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref())]);
    if (late) {
      for (const id of this.executor.runningIds()) this.executor.stop(id, 'handed back: the DPC process is stopping', true);
      await all;
    }
    clearInterval(this.heartbeat);
    clearInterval(this.watchdog);
    await this.turn(0, true);
  }

  /** Whether nothing runs, waits or is being claimed: no lease to lose. */
  private holdsNothing(): boolean {
    return this.inFlight.size === 0 && this.waiting.length === 0 && this.claimSentAt === undefined;
  }

  /**
   * Stops every run at once when the job leases were not renewed within the share of the
   * lease time: before they can lapse (STOP_AT_ONCE_MS and the clocks' skew are the rest of
   * the lease: see config/schema.ts).
   */
  private checkLeases(): void {
    const now = performance.now();
    const share = this.config.rms.jobLeaseMs * this.config.pfs.leaseLossShare;
    if (this.holdsNothing()) {
      this.renewedAt = now;
      this.executor.openStartsFor(share);
      return;
    }
    if (this.leaseLostAt !== undefined) return;
    const since = now - this.renewedAt;
    // Moved on at each look while the leases hold; left behind (so closed) when the process is frozen.
    this.executor.openStartsFor(share - since);
    if (since <= share) return;
    this.leaseLostAt = now;
    const runs = this.executor.heldJobs();
    for (const job of runs) {
      this.dropped.add(job.id);
      this.dispatched.delete(job.id);
      this.executor.stop(job.id, 'its process lost its job leases', true, true);
    }
    const waiting = this.waiting.length;
    this.troubled();
    this.waiting = [];
    this.log.warn(
      `job leases not renewed for ${Math.round(since)} ms (pfs.leaseLossShare ${this.config.pfs.leaseLossShare} of ${this.config.rms.jobLeaseMs} ms): ` +
        `stopped ${runs.length} running job(s) at once and let ${waiting} claimed one(s) go; nothing is recorded for them, they are handed back when their leases lapse`,
      { jobs: runs.slice(0, 50).map((j) => j.id) },
    );
  }

  private async run(): Promise<void> {
    while (this.running) {
      while (this.waiting.length > 0 && this.executor.fits(this.waiting[0])) this.dispatch(this.waiting.shift()!);
      const limit = this.claimLimit();
      if (this.lanes === 2) {
        if (limit > 0) this.claiming = this.inLane(this.turn(limit, false), () => (this.claiming = undefined));
        if (!this.recording && this.dueIn() === 0) this.recording = this.inLane(this.turn(0, true), () => (this.recording = undefined));
        await this.sleep();
        continue;
      }
      let claimed = 0;
      const recording = this.outcomes.length > 0;
      if (limit > 0 || this.dueIn() === 0) claimed = await this.turn(limit, true);
      // A turn that recorded outcomes may have readied the next step's jobs: it claims them at once.
      if ((claimed === 0 && !recording) || this.executor.free() < this.executor.capacity() / 2) await this.sleep();
    }
  }

  /**
   * How many jobs to claim now: none while a claim is in flight or jobs wait for room, and,
   * with jobs in flight, none until half the places are free, so claims go in batches.
   */
  private claimLimit(): number {
    if (this.drained || this.leaseLostAt !== undefined || this.claiming || this.waiting.length > 0 || this.clock.now() < this.emptyUntil) return 0;
    const room = this.executor.free();
    if (room === 0 || (this.inFlight.size > 0 && room < this.executor.capacity() / 2)) return 0;
    return Math.min(room, this.config.pfs.claimBatch);
  }

  /** A lane's transaction; when it ends, the loop looks again. It never rejects: nothing awaits it but `stop`. */
  private inLane(work: Promise<number>, done: () => void): Promise<number> {
    return work
      .catch((err: unknown) => {
        this.onError('the dispatcher failed; trying again', err);
        return 0;
      })
      .finally(() => {
        done();
        this.wake?.();
      });
  }

  /** Until a job ends, a lane ends, work is poked, changes are due, or the poll interval passes. */
  private async sleep(): Promise<void> {
    // A record in flight wakes the loop when it ends: changes gathered meanwhile wait for it.
    const due = this.recording ? undefined : this.dueIn();
    await new Promise<void>((r) => {
      const t = setTimeout(r, due === undefined ? this.config.pfs.pollMs : Math.min(due, this.config.pfs.pollMs));
      this.wake = () => {
        clearTimeout(t);
        r();
      };
    });
    this.wake = undefined;
  }

  /** Milliseconds until the changes gathered are due to be written; undefined: none. */
  private dueIn(): number | undefined {
    if (this.pendingSince === undefined) return undefined;
    return Math.max(this.pendingSince + this.config.pfs.flushMs - this.clock.now(), 0);
  }

  private dispatch(job: ClaimedJob): void {
    this.dispatched.set(job.id, job);
    this.pendingSince ??= this.clock.now();
    const done = this.executor.run(job).then((ran) => {
      this.dispatched.delete(job.id);
      this.inFlight.delete(job.id);
      if (this.dropped.delete(job.id)) return;
      this.outcomes.push(ran.outcome);
      if (ran.log) this.logs.push({ ...ran.log, job });
      this.pendingSince ??= this.clock.now();
      this.wake?.();
    });
    this.inFlight.set(job.id, done);
  }

  /**
   * Writes the starts and outcomes gathered so far (if `record`) and claims up to `limit`
   * jobs, in one transaction; what could not be written is kept for the next. Returns how
   * many jobs it claimed (and dispatched or set waiting).
   */
  private async turn(limit: number, record: boolean): Promise<number> {
    // After a stall, the leases are judged before anything is written or claimed.
    this.checkLeases();
    if (this.leaseLostAt !== undefined) limit = 0;
    const outcomes = record ? this.outcomes : [];
    const logs = record ? this.logs : [];
    const running = record ? this.runningLogs.concat(this.executor.takeRunningLogs()) : [];
    const started: ClaimedJob[] = [];
    if (record) {
      // A job is written RUNNING once it has run for flushMs: most short ones end before, and go from CLAIMED to their end.
      // The executor's threads stamp starts with the system clock, which the context's clock is outside tests.
      const startedBefore = this.clock.now() - this.config.pfs.flushMs;
      // Values, not entries: this runs every flushMs over every job in flight, and an entry is an array each.
      for (const job of this.dispatched.values()) {
        const at = this.executor.startedAt(job.id);
        if (at === undefined || at > startedBefore) continue;
        started.push(job);
        this.dispatched.delete(job.id);
      }
      this.outcomes = [];
      this.logs = [];
      this.runningLogs = [];
      // Jobs queued in a thread: look again for their starts.
      this.pendingSince = this.dispatched.size > 0 ? this.clock.now() : undefined;
    }
    if (limit === 0 && started.length === 0 && outcomes.length === 0 && running.length === 0) return 0;
    let claimed: ClaimedJob[] = [];
    try {
      // The jobs' log extents go in the same transaction as their outcomes: both, or neither and again.
      const alongside = logs.length > 0 || running.length > 0 ? (trx: Knex.Transaction) => this.store.record(trx, logs, running) : undefined;
      if (alongside) await this.store.register(logs, running);
      const sentAt = performance.now();
      if (limit > 0) this.claimSentAt = sentAt;
      claimed = await this.rms.queue.turn({ started, outcomes, pool: this.pool, limit, alongside });
      this.outageLogged = false;
      if (limit > 0) this.observer?.claimed(performance.now() - sentAt, claimed.length);
      if (outcomes.length > 0) this.observer?.recorded(outcomes);
    } catch (err) {
      if (record) {
        // Those that ended meanwhile have their outcome to write instead.
        for (const job of started) if (this.inFlight.has(job.id)) this.dispatched.set(job.id, job);
        this.outcomes.unshift(...outcomes);
        this.logs.unshift(...logs);
        this.runningLogs.unshift(...running);
        // Tried again in a second, not at once: the database may be down.
        this.pendingSince = this.clock.now() + 1000 - this.config.pfs.flushMs;
      }
      // A claim whose answer was lost may still have committed: those jobs lapse, as nothing renews them.
      if (limit > 0) this.claimSentAt = undefined;
      this.troubled();
      this.emptyUntil = this.clock.now() + 1000;
      this.onError(record ? 'recording job outcomes failed; trying again' : 'claiming jobs failed; trying again', err);
      return 0;
    }
    // A record may have readied the jobs of a next step: the next claim looks for them.
    if (outcomes.length > 0) this.emptyUntil = 0;
    else if (limit > 0 && claimed.length === 0) this.emptyUntil = this.clock.now() + this.config.pfs.pollMs;
    for (const o of outcomes) {
      if (o.status === 'FAILED') this.log.warn(`job ${o.job.id} failed: ${o.reason}`, { workflow: o.job.workflowid, job: o.job.id, tasktype: o.job.tasktype });
    }
    for (const job of claimed) {
      if (this.waiting.length === 0 && this.executor.fits(job)) this.dispatch(job);
      else this.waiting.push(job);
    }
    if (limit > 0) this.claimSentAt = undefined;
    return claimed.length;
  }

  /**
   * Renews the leases of the jobs it runs or holds waiting, and stops those this process no
   * longer holds (cancelled, or handed back): nothing is recorded for them. After a loss of
   * its leases, a renewal that succeeds once the stopped runs are gone lets it claim again.
   */
  private async beat(): Promise<void> {
    this.checkLeases();
    if (this.renewing || (this.holdsNothing() && this.leaseLostAt === undefined && this.forgiveAt === undefined)) return;
    this.renewing = true;
    const sent = performance.now();
    try {
      const held = [...this.executor.heldJobs().filter((j) => !this.dropped.has(j.id)), ...this.waiting];
      await this.rms.queue.renew(held.map((j) => j.id));
      // A renewal that took past the deadline renewed leases that may have lapsed meanwhile: the watchdog has judged.
      if (this.leaseLostAt === undefined || sent > this.leaseLostAt) this.renewedAt = sent;
      if (this.leaseLostAt !== undefined && sent > this.leaseLostAt && this.dropped.size === 0) {
        this.log.info(`job leases renewed again, ${Math.round(sent - this.leaseLostAt)} ms after they were lost: claiming again`);
        this.leaseLostAt = undefined;
        this.poke();
      }
      if (this.forgiveAt !== undefined && this.leaseLostAt === undefined && sent >= this.forgiveAt) {
        if (sent >= this.forgiveAt + FORGIVE_LEASES * this.config.rms.jobLeaseMs) this.forgiveAt = undefined;
        const n = await this.rms.queue.forgiveLapses();
        if (n > 0) this.log.info(`${n} job(s) whose leases this process let lapse were handed back: alive, it takes back their hand-backs`, { count: n });
      }
      if (held.length === 0) return;
      const handedAway = await this.rms.queue.handedAway(held);
      this.waiting = this.waiting.filter((j) => !handedAway.has(j.id));
      for (const job of this.executor.heldJobs()) {
        if (!handedAway.has(job.id) || this.dropped.has(job.id)) continue;
        this.dropped.add(job.id);
        this.dispatched.delete(job.id);
        this.troubled();
        this.executor.stop(job.id, 'cancelled, or handed to another process', true);
      }
    } catch (err) {
      this.troubled();
      this.onError('renewing job leases failed', err);
    } finally {
      this.renewing = false;
    }
  }

  /** Something may have let job leases lapse: their hand-backs are taken back from the next renewal on. */
  private troubled(): void {
    this.forgiveAt = performance.now();
  }

  private onError(what: string, err: unknown): void {
    if (isOutage(err)) {
      if (!this.outageLogged) this.log.warn(`${what}: database unreachable`, { error: messageOf(err) });
      this.outageLogged = true;
      return;
    }
    // A database error's message carries its whole statement: hundreds of rows for a batch.
    const error = messageOf(err);
    this.log.error(what, { error: error.length > 1000 ? `${error.slice(0, 500)} … ${error.slice(-300)}` : error });
  }
}
