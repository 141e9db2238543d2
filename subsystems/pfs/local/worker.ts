/**
 * The worker-thread side of the local executor: runs one TypeScript task of a job. Its
 * start time goes to shared memory, so the coordinator times the job from its real start
 * even when it waited behind others in this thread.
 */
import { getHeapStatistics } from 'node:v8';
import { JobLog } from '../jobLog.js';
import type { JobSpec, TaskFunction } from '../tasks.js';

export interface WorkerInput {
  spec: JobSpec;
  module: string;
  exportName: string;
  logFile: string;
  logMaxBytes: number;
  logBackups: number;
  slot: number;
  /** Float64: the start time of the job in each slot; Int32 (after the times): 1 when it must stop. */
  shared: SharedArrayBuffer;
  slots: number;
}

export interface WorkerOutput {
  result: unknown;
  wallMs: number;
  peakHeapMb: number;
  logBytes: number;
  logBackups: number;
  logWritten: boolean;
}

const modules = new Map<string, Promise<Record<string, unknown>>>();

/** A task module; from source (tests, `dpc` under tsx) a TypeScript one goes through tsx. */
async function load(module: string): Promise<Record<string, unknown>> {
  if (!module.endsWith('.ts')) return (await import(module)) as Record<string, unknown>;
  const { tsImport } = await import('tsx/esm/api');
  return (await tsImport(module, import.meta.url)) as Record<string, unknown>;
}

export default async function runJob(input: WorkerInput): Promise<WorkerOutput> {
  const starts = new Float64Array(input.shared, 0, input.slots);
  const stops = new Int32Array(input.shared, input.slots * 8, input.slots);
  const started = Date.now();
  starts[input.slot] = started;
  const log = new JobLog(input.logFile, input.logMaxBytes, input.logBackups);
  const controller = new AbortController();
  // An async task sees its signal aborted; a synchronous one is stopped with its thread.
  const watch = setInterval(() => {
    if (Atomics.load(stops, input.slot) === 1) controller.abort(new Error('the job was cancelled or ran past its timeout'));
  }, 50);
  const heapBefore = getHeapStatistics().total_heap_size;
  try {
    let loaded = modules.get(input.module);
    if (!loaded) modules.set(input.module, (loaded = load(input.module)));
    const fn = (await loaded)[input.exportName];
    if (typeof fn !== 'function') throw new Error(`task module ${input.module} has no function export "${input.exportName}"`);
    const result = await (fn as TaskFunction)(input.spec, { log: (m) => log.line(m), signal: controller.signal });
    return {
      result: result === undefined ? null : result,
      wallMs: Date.now() - started,
      peakHeapMb: Math.ceil(Math.max(heapBefore, getHeapStatistics().total_heap_size) / 2 ** 20),
      logBytes: log.bytes,
      logBackups: log.backups,
      logWritten: log.written,
    };
  } catch (err) {
    if (log.written || err instanceof Error) log.line(`FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    throw err;
  } finally {
    clearInterval(watch);
  }
}
