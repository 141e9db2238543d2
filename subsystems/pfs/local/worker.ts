/**
 * The worker-thread side of the local executor: runs a batch of TypeScript tasks, one job
 * after the other. Each job's start time goes to shared memory, so the coordinator times a
 * job from its real start even when it waited behind others, and knows which job a thread
 * that died was running.
 */
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { messageOf } from '../../../core/errors.js';
import { JobLog, jobLogName } from '../jobLog.js';
import { jobSpec, type SpecSource, type TaskFunction } from '../tasks.js';

export interface WorkerJob extends SpecSource {
  slot: number;
}

/**
 * A batch, sent as little as it can be: what is the same for many jobs (a task type's
 * module, an instance's parameters) goes once, and each job's spec is made here.
 */
export interface WorkerInput {
  jobs: WorkerJob[];
  /** The module and export of each task type of the batch. */
  tasks: Record<string, { module: string; exportName: string }>;
  /** The parameters (JSON) of each instance of the batch. */
  params: Record<number, string | null>;
  logDir: string;
  outputRoot: string;
  logMaxBytes: number;
  logBackups: number;
  /** After this long the batch returns what it has done; the coordinator sends the rest again. */
  batchMs: number;
  /** Float64: the start time of the job in each slot; Int32 (after the times): 1 when it must stop. */
  shared: SharedArrayBuffer;
  slots: number;
}

export interface JobOutput {
  /** Why the task failed (its error), or undefined when it succeeded. */
  error?: string;
  /** The task's return value as JSON, if it returned one JSON can hold. */
  result?: string;
  /** Wall time with fractions of a millisecond: what the coordinator sizes batches by. */
  wallMs: number;
  peakHeapMb: number;
  logBytes: number;
  logBackups: number;
  logWritten: boolean;
}

/** The jobs of the batch that ran, in order; those after them did not start. */
export type WorkerOutput = JobOutput[];

/** starts[slot] once its job has returned: it ran, but its thread may still die before saying how. */
export const RETURNED = -1;

/**
 * The thread's heap is read after a job of this many ms or more, and after this many
 * shorter ones: reading it costs more than a no-op job, and a sub-millisecond job cannot
 * grow it by much.
 */
const HEAP_READ_MS = 1;
const HEAP_READ_EVERY = 64;

const modules = new Map<string, Promise<Record<string, unknown>>>();

/** A task module; from source (tests, `dpc` under tsx) a TypeScript one goes through tsx. */
async function load(module: string): Promise<Record<string, unknown>> {
  if (!module.endsWith('.ts')) return (await import(module)) as Record<string, unknown>;
  const { tsImport } = await import('tsx/esm/api');
  return (await tsImport(module, import.meta.url)) as Record<string, unknown>;
}

/** The job running now, and the abort of its signal, if its task asked for one. */
interface Current {
  slot: number;
  abort?: (reason: Error) => void;
}

export default async function runJobs(input: WorkerInput): Promise<WorkerOutput> {
  const starts = new Float64Array(input.shared, 0, input.slots);
  const stops = new Int32Array(input.shared, input.slots * 8, input.slots);
  const out: WorkerOutput = [];
  let current: Current | undefined;
  // An async task sees its signal aborted; a synchronous one is stopped with its thread.
  const watch = setInterval(() => {
    if (current && Atomics.load(stops, current.slot) === 1) current.abort?.(new Error('the job was cancelled or ran past its timeout'));
  }, 50);
  const heap = { mb: heapMb(), jobs: 0 };
  const began = performance.now();
  try {
    for (const job of input.jobs) {
      if (out.length > 0 && performance.now() - began > input.batchMs) break;
      if (Atomics.load(stops, job.slot) === 1) {
        out.push({ error: 'stopped before it began', wallMs: 0, peakHeapMb: 0, logBytes: 0, logBackups: 0, logWritten: false });
        continue;
      }
      current = { slot: job.slot };
      out.push(await runJob(job, input, starts, current, heap));
      starts[job.slot] = RETURNED;
    }
  } finally {
    clearInterval(watch);
  }
  return out;
}

async function runJob(job: WorkerJob, input: WorkerInput, starts: Float64Array, current: Current, heap: { mb: number; jobs: number }): Promise<JobOutput> {
  starts[job.slot] = Date.now();
  const heapBefore = heap.mb;
  // A silent job costs no log and no signal: both are made when the task first asks.
  let log: JobLog | undefined;
  const logLine = (m: string) => (log ??= new JobLog(join(input.logDir, jobLogName(job.workflowid, job.id)), input.logMaxBytes, input.logBackups)).line(m);
  let controller: AbortController | undefined;
  const ctx = {
    log: logLine,
    get signal(): AbortSignal {
      if (!controller) {
        controller = new AbortController();
        current.abort = (reason) => controller!.abort(reason);
      }
      return controller.signal;
    },
  };
  let started = performance.now();
  let result: string | undefined;
  let error: string | undefined;
  try {
    const { module, exportName } = input.tasks[job.tasktype];
    let loaded = modules.get(module);
    if (!loaded) modules.set(module, (loaded = load(module)));
    const exports = await loaded;
    // The task's own time, without loading its module: the first job of a type would
    // otherwise look as long as the load, and the executor sizes batches by it.
    started = performance.now();
    const fn = exports[exportName];
    if (typeof fn !== 'function') throw new Error(`task module ${module} has no function export "${exportName}"`);
    result = toJson(await (fn as TaskFunction)(jobSpec(job, input.params[job.workflowid] ?? null, input.outputRoot), ctx));
  } catch (err) {
    error = messageOf(err) || 'the task failed';
    if (log?.written || err instanceof Error) logLine(`FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  const wallMs = performance.now() - started;
  if (wallMs >= HEAP_READ_MS || ++heap.jobs >= HEAP_READ_EVERY) {
    heap.mb = heapMb();
    heap.jobs = 0;
  }
  return {
    error,
    result,
    wallMs,
    peakHeapMb: Math.max(heapBefore, heap.mb),
    logBytes: log?.bytes ?? 0,
    logBackups: log?.backups ?? 0,
    logWritten: log?.written ?? false,
  };
}

function heapMb(): number {
  return Math.ceil(getHeapStatistics().total_heap_size / 2 ** 20);
}

/** A result JSON cannot hold (a BigInt, a cycle) is not recorded; the job still succeeded. */
function toJson(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}
