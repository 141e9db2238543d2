import type { JobSpec, TaskContext } from '../../subsystems/pfs/index.js';

/** A short CPU burst standing in for real processing: the demo's work is visible, not heavy. */
function burn(ms: number): number {
  const end = Date.now() + ms;
  let x = 0;
  while (Date.now() < end) x = (x * 1103515245 + 12345) % 2147483648;
  return x;
}

export function ingest(spec: JobSpec, ctx: TaskContext): unknown {
  ctx.log(`ingesting the day ${String(spec.params.day ?? 'unknown')}`);
  burn(50);
  return { intervals: 240 };
}

export function calibrate(spec: JobSpec): unknown {
  const { interval } = spec.dataspec as { interval: number };
  return { interval, checksum: burn(20) };
}

export function summarise(spec: JobSpec, ctx: TaskContext): unknown {
  ctx.log(`summary of workflow ${spec.workflowid} written`);
  return { done: true };
}
