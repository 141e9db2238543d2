import { existsSync } from 'node:fs';
import { cpus as machineCpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import type { Config } from '../../../config/schema.js';
import { messageOf } from '../../../core/errors.js';
import type { ClaimedJob, Outcome } from '../../rms/index.js';
import { JobLog, jobLogName } from '../jobLog.js';
import type { JobSpec, TaskTypes } from '../tasks.js';
import { runProgram } from './program.js';
import type { WorkerInput, WorkerOutput } from './worker.js';

/** How long a cancelled or timed-out TypeScript task has to return before its thread is stopped. */
const STOP_GRACE_MS = 1000;

export interface Ran {
  outcome: Outcome;
  /** The job's log, if it wrote one: for pfs_log_file. */
  log?: { filename: string; bytes: number; backups: number };
}

interface Running {
  job: ClaimedJob;
  slot: number;
  controller: AbortController;
  /** Why the coordinator stopped it (timeout, cancel, stop): set before aborting. */
  stopping?: { reason: string; handBack: boolean };
  kind: 'function' | 'program';
}

/**
 * The local executor (ARCHITECTURE §7): TypeScript tasks in a piscina worker-thread pool,
 * external programs as child processes. A task that throws, hangs past its timeout or
 * crashes its thread or process fails only its own job; other jobs a stopped thread held
 * go back to the queue without using an attempt. External programs and the jobs that
 * declare memory never exceed this executor's CPU and memory budgets.
 */
export class LocalExecutor {
  readonly threads: number;
  readonly cpuBudget: number;
  readonly memoryBudgetMb: number;
  /** Jobs it holds at most: its threads, each with jobs queued ahead. */
  readonly capacity: number;
  private readonly pool: Piscina<WorkerInput, WorkerOutput>;
  private readonly shared: SharedArrayBuffer;
  private readonly starts: Float64Array;
  private readonly stops: Int32Array;
  private readonly freeSlots: number[];
  private readonly running = new Map<number, Running>();
  private cpusInUse = 0;
  private memoryInUse = 0;
  private readonly watchdog: NodeJS.Timeout;

  constructor(
    private readonly config: Config['pfs']['local'],
    private readonly tasks: TaskTypes,
    private readonly logDir: string,
    private readonly outputRoot: string,
  ) {
    const cores = machineCpus().length;
    this.threads = config.threads || Math.max(cores - 1, 1);
    this.cpuBudget = config.cpus || cores;
    this.memoryBudgetMb = config.memoryMb || Math.floor((totalmem() / 2 ** 20) * 0.8);
    const slots = this.threads * config.pipeline;
    this.capacity = slots;
    this.shared = new SharedArrayBuffer(slots * 12);
    this.starts = new Float64Array(this.shared, 0, slots);
    this.stops = new Int32Array(this.shared, slots * 8, slots);
    this.freeSlots = Array.from({ length: slots }, (_, i) => slots - 1 - i);
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

  /** Places free in its threads; whether a job's declared CPUs and memory fit is `fits`. */
  free(): number {
    return this.freeSlots.length;
  }

  /** True when the job's declared CPUs and memory fit the budgets left. */
  fits(job: ClaimedJob): boolean {
    const type = this.tasks.get(job.tasktype);
    const cpus = type?.kind === 'program' ? job.cpus : 0;
    if (this.running.size > 0 && this.cpusInUse + cpus > this.cpuBudget) return false;
    if (this.running.size > 0 && this.memoryInUse + (job.memory_mb ?? 0) > this.memoryBudgetMb) return false;
    return this.freeSlots.length > 0;
  }

  runningIds(): number[] {
    return [...this.running.keys()];
  }

  /** Runs a job to its end; never rejects. */
  async run(job: ClaimedJob, spec: JobSpec): Promise<Ran> {
    const type = this.tasks.get(job.tasktype);
    const logName = jobLogName(job.workflowid, job.id);
    const logFile = join(this.logDir, logName);
    const slot = this.freeSlots.pop();
    if (slot === undefined) return { outcome: { job, status: 'HANDED_BACK', reason: 'the local executor was full' } };
    const controller = new AbortController();
    const entry: Running = { job, slot, controller, kind: type?.kind ?? 'function' };
    this.running.set(job.id, entry);
    const cpus = type?.kind === 'program' ? job.cpus : 0;
    this.cpusInUse += cpus;
    this.memoryInUse += job.memory_mb ?? 0;
    this.starts[slot] = 0;
    Atomics.store(this.stops, slot, 0);
    const log = new JobLog(logFile, this.config.logMaxKb * 1024, this.config.logBackups);
    try {
      if (!type) return { outcome: { job, status: 'FAILED', reason: `unknown task type ${job.tasktype}: no module of this DPC registers it` } };
      if (type.kind === 'program') {
        this.starts[slot] = Date.now();
        const r = await runProgram(type, spec, log, controller.signal);
        const measured = { wallMs: r.wallMs, cpuMs: r.cpuMs, peakMemMb: r.peakMemMb, logs: log.written ? logName : undefined };
        return this.withLog(
          entry.stopping?.handBack
            ? { job, status: 'HANDED_BACK', reason: entry.stopping.reason }
            : r.ok
              ? { job, status: 'SUCCESS', result: r.result, ...measured }
              : { job, status: 'FAILED', reason: entry.stopping?.reason ?? r.reason ?? 'failed', ...measured },
          logName,
          log,
        );
      }
      const input: WorkerInput = {
        spec,
        module: type.module,
        exportName: type.export ?? 'default',
        logFile,
        logMaxBytes: this.config.logMaxKb * 1024,
        logBackups: this.config.logBackups,
        slot,
        shared: this.shared,
        slots: this.starts.length,
      };
      try {
        const out = await this.pool.run(input, { signal: controller.signal });
        const logs = out.logWritten ? logName : undefined;
        const measured = { wallMs: out.wallMs, peakMemMb: out.peakHeapMb, logs };
        let result: string | undefined;
        try {
          result = out.result === null ? undefined : JSON.stringify(out.result);
        } catch {
          result = undefined;
        }
        return {
          outcome: entry.stopping?.handBack ? { job, status: 'HANDED_BACK', reason: entry.stopping.reason } : { job, status: 'SUCCESS', result, ...measured },
          log: out.logWritten ? { filename: logName, bytes: out.logBytes, backups: out.logBackups } : undefined,
        };
      } catch (err) {
        const wallMs = this.starts[slot] > 0 ? Date.now() - this.starts[slot] : undefined;
        if (entry.stopping) {
          const outcome: Outcome = entry.stopping.handBack ? { job, status: 'HANDED_BACK', reason: entry.stopping.reason } : { job, status: 'FAILED', reason: entry.stopping.reason, wallMs };
          return this.withLog(outcome, logName, log);
        }
        // A thread that died took every job it held: the one that ran fails, those that waited go back.
        if (this.starts[slot] === 0 && isThreadGone(err)) return { outcome: { job, status: 'HANDED_BACK', reason: `its worker thread stopped before it began: ${messageOf(err)}` } };
        const reason = isThreadGone(err) ? `its worker thread crashed: ${messageOf(err)}` : messageOf(err);
        return this.withLog({ job, status: 'FAILED', reason: reason || 'the task failed', wallMs }, logName, log);
      }
    } catch (err) {
      return { outcome: { job, status: 'FAILED', reason: `the executor failed: ${messageOf(err)}` } };
    } finally {
      this.running.delete(job.id);
      this.cpusInUse -= cpus;
      this.memoryInUse -= job.memory_mb ?? 0;
      this.starts[slot] = 0;
      this.freeSlots.push(slot);
    }
  }

  /** Stops a running job: it fails with `reason`, or goes back to the queue if `handBack`. */
  stop(jobid: number, reason: string, handBack: boolean): void {
    const entry = this.running.get(jobid);
    if (!entry || entry.stopping) return;
    entry.stopping = { reason, handBack };
    Atomics.store(this.stops, entry.slot, 1);
    if (entry.kind === 'program') {
      entry.controller.abort(new Error(reason));
      return;
    }
    // A task that does not return when asked is stopped with its thread.
    setTimeout(() => entry.controller.abort(new Error(reason)), STOP_GRACE_MS).unref();
  }

  private checkTimeouts(): void {
    const now = Date.now();
    for (const entry of this.running.values()) {
      const { timeout_ms: timeout } = entry.job;
      const started = this.starts[entry.slot];
      if (timeout && started > 0 && now - started > timeout) this.stop(entry.job.id, `timed out after ${timeout} ms`, false);
    }
  }

  private withLog(outcome: Outcome, logName: string, log: JobLog): Ran {
    const file = join(this.logDir, logName);
    if (!log.written && !existsSync(file)) return { outcome };
    return { outcome: { ...outcome, ...(outcome.status === 'HANDED_BACK' ? {} : { logs: logName }) } as Outcome, log: { filename: logName, bytes: log.bytes, backups: log.backups } };
  }

  outputDir(job: ClaimedJob): string {
    return join(this.outputRoot, String(job.workflowid), String(job.id));
  }

  async close(): Promise<void> {
    clearInterval(this.watchdog);
    await this.pool.destroy();
  }
}

function isThreadGone(err: unknown): boolean {
  return /Terminating worker thread|worker.*exit|exited/i.test(messageOf(err)) || (err as { name?: string })?.name === 'AbortError';
}
