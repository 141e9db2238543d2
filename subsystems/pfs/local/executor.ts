import { randomBytes } from 'node:crypto';
import { cpus as machineCpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { Config } from '../../../config/schema.js';
import { messageOf } from '../../../core/errors.js';
import type { ClaimedJob, Outcome } from '../../rms/index.js';
import { JobLog, jobLogName, logCapBytes, SegmentWriter, type Extent } from '../jobLog.js';
import { jobSpec, type TaskType, type TaskTypes } from '../tasks.js';
import { runProgram, StopAtOnce } from './program.js';
import { gateOffset, monotonicMs, RETURNED, sharedBytes, type JobOutput, type RunningExtents, type WorkerInput, type WorkerJob, type WorkerLogOptions, type WorkerOutput } from './worker.js';

/** How long a cancelled or timed-out TypeScript task has to return before its thread is stopped. */
const STOP_GRACE_MS = 1000;
/**
 * How long a task stopped at once (its process lost its job leases) has before its thread is
 * terminated: two of the thread's 50 ms looks at the stop flags, time for an async task to
 * see its signal aborted. Part of STOP_AT_ONCE_MS, the bound the lease margin counts on.
 */
const AT_ONCE_GRACE_MS = 100;
/**
 * Jobs in one message to a thread at most, however short they are. With batchesPerThread it sets
 * how many short jobs the executor takes on (threads × batchesPerThread × this), so how many a claim
 * brings: 512 let claims of 1 000 no-op jobs keep a thread busy (+20 % on PostgreSQL over 256).
 */
const MAX_BATCH = 512;
/** Jobs the executor holds at most, whatever its threads and batchesPerThread. */
const MAX_HELD = 8192;

/** What a run of a job attempt logged, at its end: its size, and the extents not yet handed on while it ran. */
export interface RunLog {
  attempt: number;
  bytes: number;
  extents: Extent[];
}

export interface Ran {
  outcome: Outcome;
  /** The job's log, if this run wrote one: for pfs_log_file and pfs_log_extent. */
  log?: RunLog;
}

/** Extents a job wrote while it runs: recorded at the dispatcher's next write, so its log can be read meanwhile. */
export interface RunningLog {
  job: ClaimedJob;
  attempt: number;
  extents: Extent[];
}

/** Where this executor's jobs write their logs (pfs.jobLog). */
export interface JobLogSettings {
  /** The store's directory, resolved. */
  dir: string;
  /** This process, as segment names carry it. */
  writer: string;
  config: Config['pfs']['jobLog'];
}

/** Extents a worker thread handed on for a job of this executor while it runs. */
interface ThreadRunLog {
  untaken: Extent[];
  /** `segment:pos` of those taken by the dispatcher, which the job's output lists again. */
  taken: Set<string>;
  bytes: number;
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
  /** A TypeScript task's log as its thread handed it on while it ran. */
  threadLog?: ThreadRunLog;
  /** A program's log, written by this thread. */
  programLog?: JobLog;
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
  /** The start gate (see gateOffset in worker.ts): open until then, monotonic ms. */
  private readonly gate: Float64Array;
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
  private readonly workerLog: WorkerLogOptions;
  /** Programs' output: one segment, written by this thread. */
  private readonly segment: SegmentWriter;
  private readonly channel: BroadcastChannel;
  /** Held jobs with extents written while they run that the dispatcher has not taken. */
  private readonly runningLogs = new Set<Held>();
  /** Told when a running job wrote to its log: the dispatcher records it soon. */
  onRunningLog: () => void = () => undefined;

  constructor(
    private readonly config: Config['pfs']['local'],
    private readonly tasks: TaskTypes,
    jobLog: JobLogSettings,
    outputRoot: string,
  ) {
    this.outputRoot = resolve(outputRoot);
    const segment = { dir: jobLog.dir, maxBytes: jobLog.config.segmentMb * 2 ** 20, maxAgeMs: jobLog.config.segmentAgeMs, fsync: jobLog.config.fsync === 'batch' };
    // The channel's name is this executor's own: several executors may share a process (tests, the benchmark).
    const channel = `dpc-job-log-${randomBytes(6).toString('hex')}`;
    this.workerLog = { ...segment, writer: jobLog.writer, capBytes: logCapBytes(config.logMaxKb, config.logBackups), flushMs: jobLog.config.flushMs, channel };
    this.segment = new SegmentWriter({ ...segment, writer: `${jobLog.writer}-main` });
    this.channel = new BroadcastChannel(channel);
    this.channel.onmessage = (e) => this.onThreadLog((e as { data: RunningExtents }).data);
    this.channel.unref();
    const cores = machineCpus().length;
    this.threads = config.threads || Math.max(cores - 1, 1);
    this.cpuBudget = config.cpus || cores;
    this.memoryBudgetMb = config.memoryMb || Math.floor((totalmem() / 2 ** 20) * 0.8);
    this.slots = Math.min(this.threads * config.batchesPerThread * MAX_BATCH, MAX_HELD);
    this.shared = new SharedArrayBuffer(sharedBytes(this.slots));
    this.starts = new Float64Array(this.shared, 0, this.slots);
    this.stops = new Int32Array(this.shared, this.slots * 8, this.slots);
    this.gate = new Float64Array(this.shared, gateOffset(this.slots), 1);
    this.gate[0] = Infinity;
    this.freeSlots = Array.from({ length: this.slots }, (_, i) => this.slots - 1 - i);
    const fromSource = import.meta.url.endsWith('.ts');
    this.pool = new Piscina({
      filename: new URL(`./worker.${fromSource ? 'ts' : 'js'}`, import.meta.url).href,
      minThreads: this.threads,
      maxThreads: this.threads,
      concurrentTasksPerWorker: config.batchesPerThread,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      // Run from source (tests, `dpc` under tsx), the threads need the TypeScript loader too.
      execArgv: fromSource ? ['--import', 'tsx'] : [],
    });
    this.watchdog = setInterval(() => this.checkTimeouts(), 100);
    this.watchdog.unref();
  }

  /**
   * Jobs it takes on at most: each thread's batchesPerThread batches, a batch being as many jobs
   * as fit in `batchMs` at the recent mean duration. Long jobs: threads × batchesPerThread, as
   * before any batching; no-op jobs: enough that claims and writes go in hundreds.
   */
  capacity(): number {
    const perBatch = this.meanAllMs === undefined ? 1 : Math.min(Math.max(Math.floor(this.config.batchMs / Math.max(this.meanAllMs, 0.001)), 1), MAX_BATCH);
    return Math.min(this.threads * this.config.batchesPerThread * perBatch, this.slots);
  }

  /** Places free; whether a job's declared CPUs and memory fit is `fits`. */
  free(): number {
    return Math.max(this.capacity() - this.held.size, 0);
  }

  /** What the budgets hold now, and whether a job's declared CPUs and memory would fit them (as `fits` judges). */
  budget(job: { tasktype: string; cpus: number; memory_mb: number | null }): { cpusInUse: number; memoryInUseMb: number; cpuShort: boolean; memoryShort: boolean } {
    const cpus = this.tasks.get(job.tasktype)?.kind === 'program' ? job.cpus : 0;
    const busy = this.held.size > 0;
    return {
      cpusInUse: this.cpusInUse,
      memoryInUseMb: this.memoryInUse,
      cpuShort: busy && this.cpusInUse + cpus > this.cpuBudget,
      memoryShort: busy && this.memoryInUse + (job.memory_mb ?? 0) > this.memoryBudgetMb,
    };
  }

  /** True when the job's declared CPUs and memory fit the budgets left. */
  fits(job: ClaimedJob): boolean {
    const b = this.budget(job);
    return !b.cpuShort && !b.memoryShort && this.free() > 0;
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
    // Its end brought every extent not taken: none is taken twice.
    this.runningLogs.delete(held);
    this.cpusInUse -= held.cpus;
    this.memoryInUse -= held.job.memory_mb ?? 0;
    this.starts[held.slot] = 0;
    this.freeSlots.push(held.slot);
  }

  private async runProgram(held: Held, type: Extract<TaskType, { kind: 'program' }>): Promise<Ran> {
    const { job, slot } = held;
    const log = (held.programLog = new JobLog(this.workerLog.capBytes));
    held.controller = new AbortController();
    this.starts[slot] = Date.now();
    // What the program prints is written as it comes (one write per read of its pipes), and
    // recorded at the dispatcher's next write.
    const write = (text: string) => {
      log.write(text);
      log.flush(this.segment);
      this.runningLogs.add(held);
      this.onRunningLog();
    };
    let r: Awaited<ReturnType<typeof runProgram>>;
    try {
      r = await runProgram(type, jobSpec(job, job.params, this.outputRoot), write, held.controller.signal);
    } finally {
      this.runningLogs.delete(held);
      await this.segment.sync();
    }
    const logs = log.written ? jobLogName(job.workflowid, job.id, job.attempts + 1) : undefined;
    const measured = { wallMs: r.wallMs, cpuMs: r.cpuMs, peakMemMb: r.peakMemMb, logs };
    const outcome: Outcome = held.stopping?.handBack
      ? { job, status: 'HANDED_BACK', reason: held.stopping.reason }
      : r.ok
        ? { job, status: 'SUCCESS', result: r.result, ...measured }
        : { job, status: 'FAILED', reason: held.stopping?.reason ?? r.reason ?? 'failed', ...measured };
    return { outcome, log: log.written ? { attempt: job.attempts + 1, bytes: log.bytes, extents: log.handOn() } : undefined };
  }

  /** Extents a thread wrote for a job that still runs; those of a job that has ended come with its output. */
  private onThreadLog(m: RunningExtents): void {
    const held = this.held.get(m.jobid);
    if (!held || held.job.attempts + 1 !== m.attempt || held.type.kind !== 'function') return;
    held.threadLog ??= { untaken: [], taken: new Set(), bytes: 0 };
    held.threadLog.untaken.push(...m.extents);
    for (const e of m.extents) held.threadLog.bytes += e.bytes;
    this.runningLogs.add(held);
    this.onRunningLog();
  }

  /**
   * The extents running jobs wrote since the last call, for the dispatcher to record: a
   * job's log is readable while it runs. Each extent is taken once; a job's end brings only
   * those not taken.
   */
  takeRunningLogs(): RunningLog[] {
    if (this.runningLogs.size === 0) return [];
    const out: RunningLog[] = [];
    for (const held of this.runningLogs) {
      let extents: Extent[];
      if (held.programLog) extents = held.programLog.handOn();
      else {
        const t = held.threadLog!;
        extents = t.untaken;
        t.untaken = [];
        for (const e of extents) t.taken.add(`${e.segment}:${e.pos}`);
      }
      if (extents.length > 0) out.push({ job: held.job, attempt: held.job.attempts + 1, extents });
    }
    this.runningLogs.clear();
    return out;
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
      outputRoot: this.outputRoot,
      jobLog: this.workerLog,
      batchMs: this.config.batchMs,
      shared: this.shared,
      slots: this.slots,
    };
    let outputs: WorkerOutput;
    try {
      outputs = await this.pool.run(input, { signal: controller.signal });
    } catch (err) {
      for (const held of batch) held.done(this.endedWithoutOutput(held, err));
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
    // A stopped run ends within a millisecond of its stop: counted, a burst of stops would
    // make jobs look instant and the next claim take hundreds of them (seen in the kill test).
    if (!held.stopping) this.observe(job.tasktype, out.wallMs);
    const logName = out.log ? jobLogName(job.workflowid, job.id, job.attempts + 1) : undefined;
    const wallMs = Math.round(out.wallMs);
    // Written out, not spread from a shared part: one object per job, hundreds per batch.
    const outcome: Outcome = held.stopping?.handBack
      ? { job, status: 'HANDED_BACK', reason: held.stopping.reason }
      : out.notStarted
        ? { job, status: 'HANDED_BACK', reason: out.error! }
        : out.error === undefined
          ? { job, status: 'SUCCESS', result: out.result, wallMs, peakMemMb: out.peakHeapMb, logs: logName }
          : { job, status: 'FAILED', reason: held.stopping?.reason ?? out.error, wallMs, peakMemMb: out.peakHeapMb, logs: logName };
    if (!out.log) return { outcome };
    // The output lists every extent; those the dispatcher took while the job ran are recorded already.
    const taken = held.threadLog?.taken;
    const extents = taken && taken.size > 0 ? out.log.extents.filter((e) => !taken.has(`${e.segment}:${e.pos}`)) : out.log.extents;
    return { outcome, log: { attempt: job.attempts + 1, bytes: out.log.bytes, extents } };
  }

  /** How a job ended whose thread died or was stopped before it said. */
  private endedWithoutOutput(held: Held, err: unknown): Ran {
    const { job, slot } = held;
    const started = this.starts[slot];
    const wallMs = started > 0 ? Date.now() - started : undefined;
    if (held.stopping) {
      const outcome: Outcome = held.stopping.handBack ? { job, status: 'HANDED_BACK', reason: held.stopping.reason } : { job, status: 'FAILED', reason: held.stopping.reason, wallMs };
      return this.withLog(outcome, held);
    }
    // A thread that died took every job it held: the one that ran fails, the others go back.
    if (started === 0 && isThreadGone(err)) return { outcome: { job, status: 'HANDED_BACK', reason: `its worker thread stopped before it began: ${messageOf(err)}` } };
    if (started === RETURNED && isThreadGone(err)) return { outcome: { job, status: 'HANDED_BACK', reason: `its worker thread stopped before its result came back: ${messageOf(err)}` } };
    const reason = isThreadGone(err) ? `its worker thread crashed: ${messageOf(err)}` : messageOf(err);
    return this.withLog({ job, status: 'FAILED', reason: reason || 'the task failed', wallMs }, held);
  }

  /** Moving means that follow a change within some tens of jobs (the first job of a module also loads it). */
  private observe(tasktype: string, wallMs: number): void {
    const mean = this.meanMs.get(tasktype);
    this.meanMs.set(tasktype, mean === undefined ? wallMs : mean * 0.8 + wallMs * 0.2);
    this.meanAllMs = this.meanAllMs === undefined ? wallMs : this.meanAllMs * 0.8 + wallMs * 0.2;
  }

  /** Threads may begin jobs for `ms` more (the job leases hold until then); none after. */
  openStartsFor(ms: number): void {
    this.gate[0] = monotonicMs() + ms;
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
   * The outcome of a job whose thread died or was stopped, with what its thread handed on of
   * its log while it ran (what it had not yet written went with the thread).
   */
  private withLog(outcome: Outcome, held: Held): Ran {
    const t = held.threadLog;
    if (!t) return { outcome };
    this.runningLogs.delete(held);
    const { job } = held;
    const attempt = job.attempts + 1;
    return {
      outcome: { ...outcome, ...(outcome.status === 'HANDED_BACK' ? {} : { logs: jobLogName(job.workflowid, job.id, attempt) }) } as Outcome,
      log: { attempt, bytes: t.bytes, extents: t.untaken },
    };
  }

  async close(): Promise<void> {
    clearInterval(this.watchdog);
    await this.pool.destroy();
    this.channel.close();
    this.segment.close();
  }
}

function isThreadGone(err: unknown): boolean {
  return /Terminating worker thread|worker.*exit|exited/i.test(messageOf(err)) || (err as { name?: string })?.name === 'AbortError';
}
