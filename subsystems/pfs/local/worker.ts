/**
 * The worker-thread side of the local executor: runs a batch of TypeScript tasks, one job
 * after the other. Each job's start time goes to shared memory, so the coordinator times a
 * job from its real start even when it waited behind others, and knows which job a thread
 * that died was running.
 */
import { getHeapStatistics } from 'node:v8';
import { messageOf } from '../../../core/errors.js';
import { JobLog } from '../jobLog.js';
import type { JobSpec, TaskFunction } from '../tasks.js';

export interface WorkerJob {
  spec: JobSpec;
  module: string;
  exportName: string;
  logFile: string;
  slot: number;
}

export interface WorkerInput {
  jobs: WorkerJob[];
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

const modules = new Map<string, Promise<Record<string, unknown>>>();

/** A task module; from source (tests, `dpc` under tsx) a TypeScript one goes through tsx. */
async function load(module: string): Promise<Record<string, unknown>> {
  if (!module.endsWith('.ts')) return (await import(module)) as Record<string, unknown>;
  const { tsImport } = await import('tsx/esm/api');
  return (await tsImport(module, import.meta.url)) as Record<string, unknown>;
}

export default async function runJobs(input: WorkerInput): Promise<WorkerOutput> {
  const starts = new Float64Array(input.shared, 0, input.slots);
  const stops = new Int32Array(input.shared, input.slots * 8, input.slots);
  const out: WorkerOutput = [];
  let current: { slot: number; controller: AbortController } | undefined;
  // An async task sees its signal aborted; a synchronous one is stopped with its thread.
  const watch = setInterval(() => {
    if (current && Atomics.load(stops, current.slot) === 1) current.controller.abort(new Error('the job was cancelled or ran past its timeout'));
  }, 50);
  const began = performance.now();
  try {
    for (const job of input.jobs) {
      if (out.length > 0 && performance.now() - began > input.batchMs) break;
      if (Atomics.load(stops, job.slot) === 1) {
        out.push({ error: 'stopped before it began', wallMs: 0, peakHeapMb: 0, logBytes: 0, logBackups: 0, logWritten: false });
        continue;
      }
      current = { slot: job.slot, controller: new AbortController() };
      out.push(await runJob(job, input, starts, current.controller.signal));
      starts[job.slot] = RETURNED;
    }
  } finally {
    clearInterval(watch);
  }
  return out;
}

async function runJob(job: WorkerJob, input: WorkerInput, starts: Float64Array, signal: AbortSignal): Promise<JobOutput> {
  starts[job.slot] = Date.now();
  const log = new JobLog(job.logFile, input.logMaxBytes, input.logBackups);
  const heapBefore = getHeapStatistics().total_heap_size;
  let started = performance.now();
  let result: string | undefined;
  let error: string | undefined;
  try {
    let loaded = modules.get(job.module);
    if (!loaded) modules.set(job.module, (loaded = load(job.module)));
    const module = await loaded;
    // The task's own time, without loading its module: the first job of a type would
    // otherwise look as long as the load, and the executor sizes batches by it.
    started = performance.now();
    const fn = module[job.exportName];
    if (typeof fn !== 'function') throw new Error(`task module ${job.module} has no function export "${job.exportName}"`);
    result = toJson(await (fn as TaskFunction)(job.spec, { log: (m) => log.line(m), signal }));
  } catch (err) {
    error = messageOf(err) || 'the task failed';
    if (log.written || err instanceof Error) log.line(`FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  return {
    error,
    result,
    wallMs: performance.now() - started,
    peakHeapMb: Math.ceil(Math.max(heapBefore, getHeapStatistics().total_heap_size) / 2 ** 20),
    logBytes: log.bytes,
    logBackups: log.backups,
    logWritten: log.written,
  };
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
