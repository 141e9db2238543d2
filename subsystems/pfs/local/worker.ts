/**
 * The worker-thread side of the local executor: runs a batch of TypeScript tasks, one job
 * after the other. Each job's start time goes to shared memory, so the coordinator times a
 * job from its real start even when it waited behind others, and knows which job a thread
 * that died was running.
 */
import { getHeapStatistics } from 'node:v8';
import { BroadcastChannel, threadId } from 'node:worker_threads';
import { messageOf } from '../../../core/errors.js';
import { flushLogs, JobLog, SegmentWriter, type Extent, type SegmentOptions } from '../jobLog.js';
import { jobSpec, type SpecSource, type TaskFunction } from '../tasks.js';

export interface WorkerJob extends SpecSource {
  slot: number;
}

/**
 * A batch, sent as little as it can be: what is the same for many jobs (a task type's
 * module, a workflow's parameters) goes once, and each job's spec is made here.
 */
export interface WorkerInput {
  jobs: WorkerJob[];
  /** The module and export of each task type of the batch. */
  tasks: Record<string, { module: string; exportName: string }>;
  /** The parameters (JSON) of each workflow of the batch. */
  params: Record<number, string | null>;
  outputRoot: string;
  jobLog: WorkerLogOptions;
  /** After this long the batch returns what it has done; the coordinator sends the rest again. */
  batchMs: number;
  /** Float64: the start time of the job in each slot; Int32 (after the times): 1 when it must stop. */
  shared: SharedArrayBuffer;
  slots: number;
}

/** How a thread writes its jobs' logs: into a segment of its own (`writer` gets the thread's id). */
export interface WorkerLogOptions extends SegmentOptions {
  /** A job's cap (see `logCapBytes`). */
  capBytes: number;
  /** A running job's lines are written and handed on at most this long after it logged them. */
  flushMs: number;
  /** The BroadcastChannel on which a running job's extents go to the coordinator. */
  channel: string;
}

/** A running job's extents, as a thread hands them on while it runs (see the executor's `takeRunningLogs`). */
export interface RunningExtents {
  jobid: number;
  attempt: number;
  extents: Extent[];
}

export interface JobOutput {
  /** Why the task failed (its error), or undefined when it succeeded. */
  error?: string;
  /** The task's return value as JSON, if it returned one JSON can hold. */
  result?: string;
  /** Wall time with fractions of a millisecond: what the coordinator sizes batches by. */
  wallMs: number;
  peakHeapMb: number;
  /** The job's log, if it wrote one: every extent, those handed on while it ran included. */
  log?: { extents: Extent[]; bytes: number };
  /** It did not begin: the start gate was closed (its process's job leases were in doubt). */
  notStarted?: true;
}

/** The jobs of the batch that ran, in order; those after them did not start. */
export type WorkerOutput = JobOutput[];

/** starts[slot] once its job has returned: it ran, but its thread may still die before saying how. */
export const RETURNED = -1;

/**
 * The shared memory's start gate: a Float64 after the slots' starts and stops, the monotonic
 * time (monotonicMs) until which a thread may begin a job. The coordinator moves it on while its
 * job leases hold. A thread frozen with its process (SIGSTOP, a stalled VM) wakes before the
 * coordinator's watchdog can stop anything: the gate, already past, keeps it from beginning the
 * next job of its batch while another process may have been handed that job.
 */
export const gateOffset = (slots: number) => Math.ceil((slots * 12) / 8) * 8;
export const sharedBytes = (slots: number) => gateOffset(slots) + 8;
/** CLOCK_MONOTONIC in ms: one clock for the coordinator and its threads (performance.now() has an origin per thread). */
export const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;

/**
 * The thread's heap is read after a job of this many ms or more, and after this many
 * shorter ones: reading it costs more than a no-op job, and a sub-millisecond job cannot
 * grow it by much.
 */
const HEAP_READ_MS = 1;
const HEAP_READ_EVERY = 64;

const modules = new Map<string, Promise<Record<string, unknown>>>();

/**
 * This thread's segment, and the logs of the jobs it runs now (several with batches queued ahead):
 * those that run past pfs.jobLog.flushMs are written and handed on while they run, so that
 * their log can be read before they end.
 */
let segment: SegmentWriter | undefined;
let channel: BroadcastChannel | undefined;
const live = new Map<JobLog, { jobid: number; attempt: number }>();
let liveTimer: NodeJS.Timeout | undefined;

function segmentOf(o: WorkerLogOptions): SegmentWriter {
  return (segment ??= new SegmentWriter({ ...o, writer: `${o.writer}-t${threadId}` }));
}

/** Writes a running job's waiting lines and hands their extents to the coordinator. */
function handOn(log: JobLog, o: WorkerLogOptions): void {
  const job = live.get(log);
  if (!job) return;
  log.flush(segmentOf(o));
  const extents = log.handOn();
  if (extents.length === 0) return;
  // Not synced here: the batch's sync, before its outcome, covers these too.
  channel ??= new BroadcastChannel(o.channel);
  channel.postMessage({ jobid: job.jobid, attempt: job.attempt, extents } satisfies RunningExtents);
}

function watchLive(o: WorkerLogOptions): void {
  if (liveTimer) return;
  // An async task's lines are written while it awaits; a synchronous one writes them as it logs (`logLine`).
  liveTimer = setInterval(() => {
    const now = Date.now();
    for (const log of live.keys()) if (log.hasPending && now - log.lastFlush >= o.flushMs) handOn(log, o);
    if (live.size === 0) {
      clearInterval(liveTimer);
      liveTimer = undefined;
    }
  }, o.flushMs);
}

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
  const gate = new Float64Array(input.shared, gateOffset(input.slots), 1);
  const out: WorkerOutput = [];
  let current: Current | undefined;
  // An async task sees its signal aborted; a synchronous one is stopped with its thread.
  const watch = setInterval(() => {
    if (current && Atomics.load(stops, current.slot) === 1) current.abort?.(new Error('the job was cancelled or ran past its timeout'));
  }, 50);
  const heap = { mb: heapMb(), jobs: 0 };
  const began = performance.now();
  // The logs of the batch's jobs that ended: written together, in one write, before the batch returns.
  const ended: { log: JobLog; out: JobOutput }[] = [];
  try {
    for (const job of input.jobs) {
      if (out.length > 0 && performance.now() - began > input.batchMs) break;
      if (Atomics.load(stops, job.slot) === 1) {
        out.push({ error: 'stopped before it began', wallMs: 0, peakHeapMb: 0 });
        continue;
      }
      if (monotonicMs() > gate[0]) {
        out.push({ error: "not begun: its process's job leases were in doubt", wallMs: 0, peakHeapMb: 0, notStarted: true });
        continue;
      }
      current = { slot: job.slot };
      const [output, log] = await runJob(job, input, starts, current, heap);
      out.push(output);
      if (log) ended.push({ log, out: output });
      starts[job.slot] = RETURNED;
    }
  } finally {
    clearInterval(watch);
    // Written (and with fsync `batch`, synced) before the outcomes can go to the database.
    if (ended.length > 0) {
      const seg = segmentOf(input.jobLog);
      flushLogs(
        ended.map((e) => e.log),
        seg,
      );
      await seg.sync();
      for (const { log, out: o } of ended) o.log = { extents: log.extents, bytes: log.bytes };
    }
  }
  return out;
}

/** The job's output, and its log for the batch to write (the output's `log` is set then). */
async function runJob(job: WorkerJob, input: WorkerInput, starts: Float64Array, current: Current, heap: { mb: number; jobs: number }): Promise<[JobOutput, JobLog | undefined]> {
  const startedAt = Date.now();
  starts[job.slot] = startedAt;
  const heapBefore = heap.mb;
  // A silent job costs no log and no signal: both are made when the task first asks.
  let log: JobLog | undefined;
  const o = input.jobLog;
  const logLine = (m: string) => {
    if (!log) {
      log = new JobLog(o.capBytes);
      log.lastFlush = startedAt;
      live.set(log, { jobid: job.id, attempt: job.attempts + 1 });
      watchLive(o);
    }
    log.line(m);
    if (Date.now() - log.lastFlush >= o.flushMs) handOn(log, o);
  };
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
  if (log) live.delete(log);
  if (wallMs >= HEAP_READ_MS || ++heap.jobs >= HEAP_READ_EVERY) {
    heap.mb = heapMb();
    heap.jobs = 0;
  }
  return [{ error, result, wallMs, peakHeapMb: Math.max(heapBefore, heap.mb) }, log];
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
