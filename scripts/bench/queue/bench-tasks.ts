import type { JobSpec, TaskContext } from '../../../subsystems/pfs/index.js';

/** Does nothing: the queue's own cost is what is measured. */
export function noop(): void {}

/** Writes `lines` lines (the workflow's parameter, default 1) to the job's log: the cost of job logging. */
export function noopLog(spec: JobSpec, ctx: TaskContext): void {
  const lines = Number(spec.params.lines ?? 1);
  for (let i = 0; i < lines; i++) ctx.log(`job ${spec.jobid} line ${i}`);
}
