import { existsSync } from 'node:fs';
import { cpus as machineCpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Piscina } from 'piscina';
import type { Config } from '../../../config/schema.js';
import { messageOf } from '../../../core/errors.js';
import type { ClaimedJob, Outcome } from '../../rms/index.js';
import { JobLog, jobLogName } from '../jobLog.js';
import { jobSpec, type TaskType, type TaskTypes } from '../tasks.js';
import { runProgram, StopAtOnce } from './program.js';
import { RETURNED, type JobOutput, type WorkerInput, type WorkerJob, type WorkerOutput } from './worker.js';

/** How long a cancelled or timed-out TypeScript task has to return before its thread is stopped. */
const STOP_GRACE_MS = 1000;
/**
 * How long a task stopped at once (its process lost its job leases) has before its thread is
 * terminated: two of the thread's 50 ms looks at the stop flags, time for an async task to
 * see its signal aborted. Part of STOP_AT_ONCE_MS, the bound the lease margin counts on.
 */
const AT_ONCE_GRACE_MS = 100;
/**
 * Jobs in one message to a thread at most, however short they are. With the pipeline it sets
 * how many short jobs the executor takes on (threads × pipeline × this), so how many a claim
 * brings: 512 let claims of 1 000 no-op jobs keep a thread busy (+20 % on PostgreSQL over 256).
 */
const MAX_BATCH = 512;
/** Jobs the executor holds at most, whatever its threads and pipeline. */
const MAX_HELD = 8192;

export interface Ran {
  outcome: Outcome;
  /** The job's log, if it wrote one: for pfs_log_file. */
  log?: { filename: string; bytes: number; backups: number };
}

type FunctionType = Extract<TaskType, { kind: 'function' }>;

/** A job this executor runs, from its start until it has said how it ended. */
interface Held {
  job: ClaimedJob;
  type: TaskType;
  slot: number;
  /** The CPUs it counts against the budget: a program's declared ones; a thread's are the pool's. */
  cpus: number;
  /** Gives the slot and budgets back and settles `run`'s promise. */
  done: (ran: Ran) => void;
  /** Why the coordinator stopped it (timeout, cancel, stop, lease lost): set before aborting. */
  stopping?: { reason: string; handBack: boolean };
  /** A program's own; the batch's for a TypeScript task (aborting it stops the thread). */
  controller?: AbortController;
}

/**
 * The local executor (ARCHITECTURE §7): TypeScript tasks in a piscina worker-thread pool,
 * external programs as child processes. A task that throws, hangs past its timeout or
 * crashes its thread or process fails only its own job; other jobs a stopped thread held
 * go back to the queue without using an attempt. External programs and the jobs that
 * declare memory never exceed this executor's CPU and memory budgets.
 *
 * Short jobs go to a thread in batches of about `batchMs` of work, judged by the recent
 * durations of their task type: one message per job would cost more than a no-op job
 * itself. A job whose type has not been seen, or takes longer, goes alone.
 */
export class LocalExecutor {
  readonly threads: number;
  readonly cpuBudget: number;
  readonly memoryBudgetMb: number;
  private readonly pool: Piscina<WorkerInput, WorkerOutput>;
  private readonly shared: SharedArrayBuffer;
  private readonly starts: Float64Array;
  private readonly stops: Int32Array;
  private readonly slots: number;
  private readonly freeSlots: number[];
  private readonly held = new Map<number, Held>();
  private queued: Held[] = [];
  private sending = false;
  /** Recent mean wall time of each task type's jobs, ms, and of all jobs. */
  private readonly meanMs = new Map<string, number>();
  private meanAllMs: number | undefined;
  private cpusInUse = 0;
  private memoryInUse = 0;
  private readonly watchdog: NodeJS.Timeout;
  /** Where jobs write what they make, absolute (see `jobOutputDir`). */
  private readonly outputRoot: string;

  constructor(
    private readonly config: Config['pfs']['local'],
    private readonly tasks: TaskTypes,
    private readonly logDir: string,
    outputRoot: string,
  ) {
    this.outputRoot = resolve(outputRoot);
    const cores = machineCpus().length;
    this.threads = config.threads || Math.max(cores - 1, 1);
    this.cpuBudget = config.cpus || cores;
    this.memoryBudgetMb = config.memoryMb || Math.floor((totalmem() / 2 ** 20) * 0.8);
    this.slots = Math.min(this.threads * config.pipeline * MAX_BATCH, MAX_HELD);
    this.shared = new SharedArrayBuffer(this.slots * 12);
    this.starts = new Float64Array(this.shared, 0, this.slots);
    this.stops = new Int32Array(this.shared, this.slots * 8, this.slots);
    this.freeSlots = Array.from({ length: this.slots }, (_, i) => this.slots - 1 - i);
    const fromSource = import.meta.url.endsWith('.ts');
    this.pool = new Piscina({
      filename: new URL(`./worker.${fromSource ? 'ts' : 'js'}`, import.meta.url).href,
      minThreads: this.threads,
      maxThreads: this.threads,
      concurrentTasksPerWorker: config.pipeline,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      // Run from source (tests, `dpc` under tsx), the threads need the TypeScript loader too.
      execArgv: fromSource ? ['--import', 'tsx'] : [],
    });
    this.watchdog = setInterval(() => this.checkTimeouts(), 100);
    this.watchdog.unref();
  }

  /**
   * Jobs it takes on at most: each thread's pipeline of batches, a batch being as many jobs
   * as fit in `batchMs` at the recent mean duration. Long jobs: threads × pipeline, as
   * before any batching; no-op jobs: enough that claims and writes go in hundreds.
   */
  capacity(): number {
    const perBatch = this.meanAllMs === undefined ? 1 : Math.min(Math.max(Math.floor(this.config.batchMs / Math.max(this.meanAllMs, 0.001)), 1), MAX_BATCH);
    return Math.min(this.threads * this.config.pipeline * perBatch, this.slots);
  }

  /** Places free; whether a job's declared CPUs and memory fit is `fits`. */
  free(): number {
    return Math.max(this.capacity() - this.held.size, 0);
  }

  /** True when the job's declared CPUs and memory fit the budgets left. */
  fits(job: ClaimedJob): boolean {
    const type = this.tasks.get(job.tasktype);
    const cpus = type?.kind === 'program' ? job.cpus : 0;
    if (this.held.size > 0 && this.cpusInUse + cpus > this.cpuBudget) return false;
    if (this.held.size > 0 && this.memoryInUse + (job.memory_mb ?? 0) > this.memoryBudgetMb) return false;
    return this.free() > 0;
  }

  /**
   * When a held job began to run (Unix ms), or undefined if it waits in its thread behind
   * others, or has already returned.
   */
  startedAt(jobid: number): number | undefined {
    const held = this.held.get(jobid);
    const started = held === undefined ? 0 : this.starts[held.slot];
    return started > 0 ? started : undefined;
  }

  runningIds(): number[] {
    return [...this.held.keys()];
  }

  /** The jobs it holds, each with the claim its run holds. */
  heldJobs(): ClaimedJob[] {
    return Array.from(this.held.values(), (h) => h.job);
  }

  /** Runs a job to its end; never rejects. */
  run(job: ClaimedJob): Promise<Ran> {
    const type = this.tasks.get(job.tasktype);
    if (!type) return Promise.resolve({ outcome: { job, status: 'FAILED', reason: `unknown task type ${job.tasktype}: no module of this DPC registers it` } });
    const slot = this.freeSlots.pop();
    if (slot === undefined) return Promise.resolve({ outcome: { job, status: 'HANDED_BACK', reason: 'the local executor was full' } });
    // No async function and no Queued object around each job: at tens of thousands of jobs a
    // second, those were most of what the coordinator's thread allocated.
    return new Promise<Ran>((resolve) => {
      const held: Held = {
        job,
        type,
        slot,
        cpus: type.kind === 'program' ? job.cpus : 0,
        done: (ran) => {
          this.release(held);
          resolve(ran);
        },
      };
      this.held.set(job.id, held);
      this.cpusInUse += held.cpus;
      this.memoryInUse += job.memory_mb ?? 0;
      this.starts[slot] = 0;
      Atomics.store(this.stops, slot, 0);
      if (type.kind === 'program') {
        this.runProgram(held, type).then(held.done, (err) => held.done({ outcome: { job, status: 'FAILED', reason: `the executor failed: ${messageOf(err)}` } }));
      } else {
        this.queued.push(held);
        this.sendSoon();
      }
    });
  }

  private release(held: Held): void {
    this.held.delete(held.job.id);
    this.cpusInUse -= held.cpus;
    this.memoryInUse -= held.job.memory_mb ?? 0;
    this.starts[held.slot] = 0;
    this.freeSlots.push(held.slot);
  }

  private async runProgram(held: Held, type: Extract<TaskType, { kind: 'program' }>): Promise<Ran> {
    const { job, slot } = held;
    const logName = jobLogName(job.workflowid, job.id);
    const log = new JobLog(join(this.logDir, logName), this.config.logMaxKb * 1024, this.config.logBackups);
    held.controller = new AbortController();
    this.starts[slot] = Date.now();
    const r = await runProgram(type, jobSpec(job, job.params, this.outputRoot), log, held.controller.signal);
    const measured = { wallMs: r.wallMs, cpuMs: r.cpuMs, peakMemMb: r.peakMemMb, logs: log.written ? logName : undefined };
    return this.withLog(
      held.stopping?.handBack
        ? { job, status: 'HANDED_BACK', reason: held.stopping.reason }
        : r.ok
          ? { job, status: 'SUCCESS', result: r.result, ...measured }
          : { job, status: 'FAILED', reason: held.stopping?.reason ?? r.reason ?? 'failed', ...measured },
      job,
      log,
    );
  }

  /** The jobs given in one turn of the event loop leave together, in batches. */
  private sendSoon(): void {
    if (this.sending) return;
    this.sending = true;
    setImmediate(() => {
      this.sending = false;
      const queued = this.queued;
      this.queued = [];
      for (const batch of this.batches(queued)) void this.send(batch);
    });
  }

  /** Cuts the queued jobs into batches of about batchMs each, spread over every thread. */
  private batches(queued: Held[]): Held[][] {
    const most = Math.min(Math.ceil(queued.length / this.threads), MAX_BATCH);
    const out: Held[][] = [];
    let batch: Held[] = [];
    let ms = 0;
    for (const q of queued) {
      const estimate = this.meanMs.get(q.job.tasktype) ?? this.config.batchMs;
      if (batch.length > 0 && (ms + estimate > this.config.batchMs || batch.length >= most)) {
        out.push(batch);
        batch = [];
        ms = 0;
      }
      batch.push(q);
      ms += estimate;
    }
    if (batch.length > 0) out.push(batch);
    return out;
  }

  private async send(batch: Held[]): Promise<void> {
    const controller = new AbortController();
    const tasks: WorkerInput['tasks'] = {};
    const params: WorkerInput['params'] = {};
    const jobs: WorkerJob[] = [];
    for (const held of batch) {
      held.controller = controller;
      const { job, slot } = held;
      // Only TypeScript tasks are queued for threads; programs run from `run`.
      const type = held.type as FunctionType;
      tasks[job.tasktype] ??= { module: type.module, exportName: type.export ?? 'default' };
      params[job.workflowid] ??= job.params;
      jobs.push({ id: job.id, workflowid: job.workflowid, stepid: job.stepid, tasktype: job.tasktype, attempts: job.attempts, dataspec: job.dataspec, solutionid: job.solutionid, slot });
    }
    const input: WorkerInput = {
      jobs,
      tasks,
      params,
      logDir: this.logDir,
      outputRoot: this.outputRoot,
      logMaxBytes: this.config.logMaxKb * 1024,
      logBackups: this.config.logBackups,
      batchMs: this.config.batchMs,
      shared: this.shared,
      slots: this.slots,
    };
    let outputs: WorkerOutput;
    try {
      outputs = await this.pool.run(input, { signal: controller.signal });
    } catch (err) {
      for (const held of batch) held.done(this.lost(held, err));
      return;
    }
    outputs.forEach((out, i) => batch[i].done(this.ended(batch[i], out)));
    // The batch ran past its time: the jobs it did not start go again, behind those queued since.
    if (outputs.length < batch.length) {
      this.queued.push(...batch.slice(outputs.length));
      this.sendSoon();
    }
  }

  /** How a job that its task returned from ended. */
  private ended(held: Held, out: JobOutput): Ran {
    const { job } = held;
    this.observe(job.tasktype, out.wallMs);
    const logName = out.logWritten ? jobLogName(job.workflowid, job.id) : undefined;
    const wallMs = Math.round(out.wallMs);
    // Written out, not spread from a shared part: one object per job, hundreds per batch.
    const outcome: Outcome = held.stopping?.handBack
      ? { job, status: 'HANDED_BACK', reason: held.stopping.reason }
      : out.error === undefined
        ? { job, status: 'SUCCESS', result: out.result, wallMs, peakMemMb: out.peakHeapMb, logs: logName }
        : { job, status: 'FAILED', reason: held.stopping?.reason ?? out.error, wallMs, peakMemMb: out.peakHeapMb, logs: logName };
    return { outcome, log: logName === undefined ? undefined : { filename: logName, bytes: out.logBytes, backups: out.logBackups } };
  }

  /** How a job ended whose thread died or was stopped before it said. */
  private lost(held: Held, err: unknown): Ran {
    const { job, slot } = held;
    const started = this.starts[slot];
    const wallMs = started > 0 ? Date.now() - started : undefined;
    if (held.stopping) {
      const outcome: Outcome = held.stopping.handBack ? { job, status: 'HANDED_BACK', reason: held.stopping.reason } : { job, status: 'FAILED', reason: held.stopping.reason, wallMs };
      return this.withLog(outcome, job);
    }
    // A thread that died took every job it held: the one that ran fails, the others go back.
    if (started === 0 && isThreadGone(err)) return { outcome: { job, status: 'HANDED_BACK', reason: `its worker thread stopped before it began: ${messageOf(err)}` } };
    if (started === RETURNED && isThreadGone(err)) return { outcome: { job, status: 'HANDED_BACK', reason: `its worker thread stopped before its result came back: ${messageOf(err)}` } };
    const reason = isThreadGone(err) ? `its worker thread crashed: ${messageOf(err)}` : messageOf(err);
    return this.withLog({ job, status: 'FAILED', reason: reason || 'the task failed', wallMs }, job);
  }

  /** Moving means that follow a change within some tens of jobs (the first job of a module also loads it). */
  private observe(tasktype: string, wallMs: number): void {
    const mean = this.meanMs.get(tasktype);
    this.meanMs.set(tasktype, mean === undefined ? wallMs : mean * 0.8 + wallMs * 0.2);
    this.meanAllMs = this.meanAllMs === undefined ? wallMs : this.meanAllMs * 0.8 + wallMs * 0.2;
  }

  /**
   * Stops a running job: it fails with `reason`, or goes back to the queue if `handBack`.
   * `atOnce` (its process lost its job leases): a program's process group gets SIGKILL, a
   * TypeScript task's thread is terminated after AT_ONCE_GRACE_MS, whatever it was doing.
   */
  stop(jobid: number, reason: string, handBack: boolean, atOnce = false): void {
    const held = this.held.get(jobid);
    if (!held || (held.stopping && !atOnce)) return;
    held.stopping = { reason, handBack };
    Atomics.store(this.stops, held.slot, 1);
    if (held.type.kind === 'program') {
      held.controller?.abort(atOnce ? new StopAtOnce(reason) : new Error(reason));
      return;
    }
    // A task that does not return when asked is stopped with its thread (and the batch it is in).
    setTimeout(
      () => {
        if (this.held.get(jobid) === held && this.starts[held.slot] > 0) held.controller?.abort(new Error(reason));
      },
      atOnce ? AT_ONCE_GRACE_MS : STOP_GRACE_MS,
    ).unref();
  }

  private checkTimeouts(): void {
    const now = Date.now();
    for (const held of this.held.values()) {
      const { timeout_ms: timeout } = held.job;
      const started = this.starts[held.slot];
      if (timeout && started > 0 && now - started > timeout) this.stop(held.job.id, `timed out after ${timeout} ms`, false);
    }
  }

  /**
   * The outcome with the job's log, if one was written by this attempt (`log`, when this
   * thread wrote it) or an earlier one.
   */
  private withLog(outcome: Outcome, job: ClaimedJob, log?: JobLog): Ran {
    const logName = jobLogName(job.workflowid, job.id);
    const file = join(this.logDir, logName);
    if (!log?.written && !existsSync(file)) return { outcome };
    return {
      outcome: { ...outcome, ...(outcome.status === 'HANDED_BACK' ? {} : { logs: logName }) } as Outcome,
      log: { filename: logName, bytes: log?.bytes ?? 0, backups: log?.backups ?? 0 },
    };
  }

  async close(): Promise<void> {
    clearInterval(this.watchdog);
    await this.pool.destroy();
  }
}

function isThreadGone(err: unknown): boolean {
  return /Terminating worker thread|worker.*exit|exited/i.test(messageOf(err)) || (err as { name?: string })?.name === 'AbortError';
}
