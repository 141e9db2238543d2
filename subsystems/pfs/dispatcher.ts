import type { Logger } from 'winston';
import type { Config } from '../../config/schema.js';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import { isOutage } from '../../core/db.js';
import { messageOf } from '../../core/errors.js';
import type { ClaimedJob, Outcome, RmsService } from '../rms/index.js';
import type { LocalExecutor, Ran } from './local/executor.js';
import { insertLogFiles } from './sql/logFiles.js';
import type { JobSpec } from './tasks.js';

/**
 * The coordinator of this process's local executor: claims READY jobs of the `local` pool
 * as places free up, runs them, and writes what happened in batches (a start and the end of
 * a short job often go in the same transaction). It renews the leases of the jobs it holds
 * and stops those that were cancelled or handed to another process meanwhile.
 */
export class Dispatcher {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly inFlight = new Map<number, Promise<void>>();
  /** Claimed jobs that wait for the CPUs or memory they declared: they start in claim order. */
  private waiting: ClaimedJob[] = [];
  private started: ClaimedJob[] = [];
  private outcomes: Outcome[] = [];
  private logs: (NonNullable<Ran['log']> & { job: ClaimedJob })[] = [];
  private flushing: Promise<void> | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private outageLogged = false;
  drained = false;

  constructor(
    private readonly rms: RmsService,
    private readonly executor: LocalExecutor,
    private readonly db: Db,
    private readonly config: Config,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly pool = 'local',
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
    const every = Math.max(Math.floor(this.config.rms.jobLeaseMs / 3), 100);
    this.heartbeat = setInterval(() => void this.beat(), every);
    this.heartbeat.unref();
  }

  /** Asks the loop to look for work now (a job finished, or the queue was filled). */
  poke(): void {
    this.wake?.();
  }

  /**
   * Stops claiming; jobs still running after `graceMs` are stopped and handed back to the
   * queue (no attempt used), so another process or the next start runs them.
   */
  async stop(graceMs: number): Promise<void> {
    this.running = false;
    this.poke();
    await this.loop;
    for (const job of this.waiting) this.outcomes.push({ job, status: 'HANDED_BACK', reason: 'handed back: the DPC process is stopping' });
    this.waiting = [];
    const all = Promise.all(this.inFlight.values());
    const late = await Promise.race([all.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref())]);
    if (late) {
      for (const id of this.executor.runningIds()) this.executor.stop(id, 'handed back: the DPC process is stopping', true);
      await all;
    }
    clearInterval(this.heartbeat);
    await this.flush();
  }

  private async run(): Promise<void> {
    while (this.running) {
      while (this.waiting.length > 0 && this.executor.fits(this.waiting[0])) this.dispatch(this.waiting.shift()!);
      let claimed: ClaimedJob[] = [];
      const room = this.executor.free();
      // Claims in batches: with jobs in flight, wait until half the places are free.
      const worth = room > 0 && this.waiting.length === 0 && (this.inFlight.size === 0 || room >= this.executor.capacity / 2);
      if (worth && !this.drained) {
        try {
          claimed = await this.rms.queue.claim(this.pool, Math.min(room, this.config.pfs.claimBatch));
          this.outageLogged = false;
        } catch (err) {
          this.onError('claiming jobs failed', err);
        }
      }
      for (const job of claimed) {
        if (this.waiting.length === 0 && this.executor.fits(job)) this.dispatch(job);
        else this.waiting.push(job);
      }
      if (claimed.length === 0 || this.executor.free() < this.executor.capacity / 2) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, this.config.pfs.pollMs);
          this.wake = () => {
            clearTimeout(t);
            r();
          };
        });
        this.wake = undefined;
      }
    }
  }

  private dispatch(job: ClaimedJob): void {
    const spec: JobSpec = {
      jobid: job.id,
      workflowid: job.workflowid,
      stepid: job.stepid,
      tasktype: job.tasktype,
      attempt: job.attempts + 1,
      dataspec: parse(job.dataspec),
      params: (parse(job.params) ?? {}) as Record<string, unknown>,
      solutionid: job.solutionid,
      outputDir: this.executor.outputDir(job),
    };
    this.started.push(job);
    const done = this.executor.run(job, spec).then((ran) => {
      this.outcomes.push(ran.outcome);
      if (ran.log) this.logs.push({ ...ran.log, job });
      this.inFlight.delete(job.id);
      this.scheduleFlush();
      this.poke();
    });
    this.inFlight.set(job.id, done);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.flushing) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, this.config.pfs.flushMs);
  }

  /** Writes the starts and outcomes gathered so far; kept for the next try if the database fails. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.started.length === 0 && this.outcomes.length === 0) return;
    const started = this.started;
    const outcomes = this.outcomes;
    const logs = this.logs;
    this.started = [];
    this.outcomes = [];
    this.logs = [];
    this.flushing = (async () => {
      try {
        if (logs.length > 0) {
          const now = this.clock.now();
          await insertLogFiles(this.db.knex, {
            rows: logs.map((l) => ({
              filename: l.filename,
              jobid: l.job.id,
              subsystem: 'pfs',
              taskname: l.job.tasktype,
              workflowid: l.job.workflowid,
              maxbackupnumber: this.config.pfs.local.logBackups,
              numberofbackup: l.backups,
              bytes: l.bytes,
              created: now,
              updated: now,
            })),
          });
        }
        await this.rms.queue.record(started, outcomes);
        for (const o of outcomes) {
          if (o.status === 'FAILED') this.log.warn(`job ${o.job.id} failed: ${o.reason}`, { workflow: o.job.workflowid, job: o.job.id, tasktype: o.job.tasktype });
        }
      } catch (err) {
        this.started.unshift(...started);
        this.outcomes.unshift(...outcomes);
        this.onError('recording job outcomes failed; trying again', err);
        setTimeout(() => this.scheduleFlush(), 1000).unref();
      }
    })().finally(() => {
      this.flushing = undefined;
      if (this.started.length > 0 || this.outcomes.length > 0) this.scheduleFlush();
    });
    await this.flushing;
  }

  /** Renews the leases of held jobs, and stops those this process no longer holds. */
  private async beat(): Promise<void> {
    try {
      await this.rms.queue.heartbeat();
      const ids = [...this.executor.runningIds(), ...this.waiting.map((j) => j.id)];
      if (ids.length === 0) return;
      const lost = await this.rms.queue.lost(ids);
      this.waiting = this.waiting.filter((j) => !lost.has(j.id));
      for (const id of lost) this.executor.stop(id, 'cancelled, or handed to another process', false);
    } catch (err) {
      this.onError('renewing job leases failed', err);
    }
  }

  private onError(what: string, err: unknown): void {
    if (isOutage(err)) {
      if (!this.outageLogged) this.log.warn(`${what}: database unreachable`, { error: messageOf(err) });
      this.outageLogged = true;
      return;
    }
    this.log.error(what, { error: messageOf(err) });
  }
}

function parse(text: string | null): unknown {
  if (text === null) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
