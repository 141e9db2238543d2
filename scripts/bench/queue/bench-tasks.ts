import type { JobSpec, TaskContext } from '../../../subsystems/pfs/index.js';

/** Does nothing: the queue's own cost is what is measured. */
export function noop(): void {}

/** Writes one line to the job's log: the cost of job logging, a file per job. */
export function noopLog(spec: JobSpec, ctx: TaskContext): void {
  ctx.log(`job ${spec.jobid}`);
}
