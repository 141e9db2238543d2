import { createHash } from 'node:crypto';
import cron from 'node-cron';
import { rmsErrors } from './errors.js';

/** What a workflow was started with: free JSON, given by its trigger or an operator. */
export type Params = Record<string, unknown>;

/**
 * One step of a workflow (seed 001's Workflow Manager; seed 004 §5.1.2): a task type run as
 * one job, or as one job per element of a data specification (time intervals, HEALPix
 * regions). The expansion receives the workflow's parameters; DSS statistics come later.
 */
export interface StepDescriptor {
  name: string;
  /** A task type registered with PFS (rms_job.tasktype of its jobs). */
  tasktype: string;
  /** Steps that must succeed first. */
  after?: string[];
  /** The data specifications of the step's jobs, one job each; one job with `{}` if absent. */
  jobs?: unknown[] | ((params: Params) => unknown[]);
  retry?: { attempts: number; backoffMs?: number };
  timeoutMs?: number;
  /** Added to the workflow's priority; higher runs first. */
  priority?: number;
  /** The executor pool; `local` (this process's workers) unless told. */
  pool?: string;
  cpus?: number;
  memoryMb?: number;
}

export type Trigger =
  /** Fires at each time the expression (UTC, 5 or 6 fields) names. */
  | { kind: 'cron'; schedule: string; params?: Params }
  /** Fires on each `dataset.updated` of a data-model type, optionally within a mission-time range (ns, as text). */
  | { kind: 'data'; dmtype: string; timeFrom?: string; timeTo?: string };

export interface WorkflowDescriptor {
  name: string;
  description?: string;
  /** The data-model type of the solution a finished workflow records. */
  output: string;
  priority?: number;
  steps: StepDescriptor[];
  triggers?: Trigger[];
}

/** A descriptor checked and in topological order, with the hash that versions it. */
export interface CheckedDescriptor {
  descriptor: WorkflowDescriptor;
  /** Step names, every step after all its upstream steps. */
  order: string[];
  hash: string;
  /** The descriptor as stored in rms_descriptor (expansion functions as their source). */
  stored: string;
}

export const MAX_PRIORITY = 1000;
const NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

export function validPriority(p: unknown): p is number {
  return Number.isInteger(p) && Math.abs(p as number) <= MAX_PRIORITY;
}

/**
 * Checks a descriptor as it is registered: a cycle, an unknown task type, a bad cron
 * expression or priority is rejected with a message naming the workflow and the step.
 */
export function checkDescriptor(descriptor: WorkflowDescriptor, hasTask: (name: string) => boolean): CheckedDescriptor {
  const wf = typeof descriptor?.name === 'string' ? descriptor.name : JSON.stringify(descriptor?.name);
  const fail = (step: string | undefined, problem: string) => rmsErrors.descriptor(wf, step, problem);
  if (typeof descriptor?.name !== 'string' || !NAME.test(descriptor.name)) throw fail(undefined, 'the name must be 1 to 64 letters, digits, _ . or -, starting with a letter');
  if (typeof descriptor.output !== 'string' || descriptor.output === '') throw fail(undefined, 'output (the data-model type of its solution) is missing');
  if (descriptor.priority !== undefined && !validPriority(descriptor.priority)) throw rmsErrors.badPriority(`workflow "${wf}"`, descriptor.priority);
  if (!Array.isArray(descriptor.steps) || descriptor.steps.length === 0) throw fail(undefined, 'it has no steps');

  const byName = new Map<string, StepDescriptor>();
  for (const step of descriptor.steps) {
    const name = step?.name;
    if (typeof name !== 'string' || !NAME.test(name)) throw fail(String(name), 'a step name must be 1 to 64 letters, digits, _ . or -, starting with a letter');
    if (byName.has(name)) throw fail(name, 'two steps have this name');
    byName.set(name, step);
    if (typeof step.tasktype !== 'string' || !hasTask(step.tasktype)) throw fail(name, `unknown task type ${JSON.stringify(step.tasktype)}`);
    if (step.priority !== undefined && !validPriority(step.priority)) throw rmsErrors.badPriority(`workflow "${wf}", step "${name}"`, step.priority);
    if (step.retry !== undefined) {
      if (!Number.isInteger(step.retry.attempts) || step.retry.attempts < 1 || step.retry.attempts > 100) throw fail(name, 'retry.attempts must be a whole number from 1 to 100');
      if (step.retry.backoffMs !== undefined && !(Number.isInteger(step.retry.backoffMs) && step.retry.backoffMs >= 0)) throw fail(name, 'retry.backoffMs must be a whole number of milliseconds');
    }
    if (step.timeoutMs !== undefined && !(Number.isInteger(step.timeoutMs) && step.timeoutMs > 0)) throw fail(name, 'timeoutMs must be a positive whole number');
    if (step.cpus !== undefined && !(Number.isInteger(step.cpus) && step.cpus >= 1)) throw fail(name, 'cpus must be a whole number of at least 1');
    if (step.memoryMb !== undefined && !(Number.isInteger(step.memoryMb) && step.memoryMb >= 1)) throw fail(name, 'memoryMb must be a whole number of at least 1');
    if (step.pool !== undefined && !/^[A-Za-z0-9_.-]{1,32}$/.test(step.pool)) throw fail(name, 'pool must be 1 to 32 letters, digits, _ . or -');
    if (step.jobs !== undefined && !Array.isArray(step.jobs) && typeof step.jobs !== 'function') throw fail(name, 'jobs must be a list of data specifications or a function returning one');
  }
  for (const step of descriptor.steps) {
    for (const up of step.after ?? []) if (!byName.has(up)) throw fail(step.name, `it runs after "${up}", which is not a step of this workflow`);
  }
  for (const [i, trigger] of (descriptor.triggers ?? []).entries()) {
    if (trigger?.kind === 'cron') {
      const checked = cron.validateDetailed(trigger.schedule ?? '');
      if (!checked.valid) {
        const why = checked.errors.map((e) => `${e.field}: ${e.message}`).join('; ') || 'not a cron expression';
        throw fail(undefined, `trigger ${i + 1}: bad cron expression ${JSON.stringify(trigger.schedule)} (${why})`);
      }
    } else if (trigger?.kind === 'data') {
      if (typeof trigger.dmtype !== 'string' || trigger.dmtype === '') throw fail(undefined, `trigger ${i + 1}: a data trigger needs dmtype`);
    } else throw fail(undefined, `trigger ${i + 1}: kind must be cron or data`);
  }

  const order = topologicalOrder(descriptor, byName);
  const stored = JSON.stringify(descriptor, (_key, value: unknown) => (typeof value === 'function' ? `function: ${value.toString()}` : value));
  return { descriptor, order, stored, hash: createHash('sha256').update(stored).digest('hex') };
}

/** Depth-first, reporting the first cycle found as the path that closes it. */
function topologicalOrder(descriptor: WorkflowDescriptor, byName: Map<string, StepDescriptor>): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw rmsErrors.cycle(descriptor.name, [...path.slice(path.indexOf(name)), name]);
    state.set(name, 'visiting');
    for (const up of byName.get(name)?.after ?? []) visit(up, [...path, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const step of descriptor.steps) visit(step.name, []);
  return order;
}

/** The data specifications of a step for a workflow: what its jobs will process. */
export function expandStep(wf: string, step: StepDescriptor, params: Params): unknown[] {
  let specs: unknown;
  try {
    specs = step.jobs === undefined ? [{}] : typeof step.jobs === 'function' ? step.jobs(params) : step.jobs;
  } catch (err) {
    throw rmsErrors.descriptor(wf, step.name, `its job expansion failed: ${(err as Error).message}`);
  }
  if (!Array.isArray(specs)) throw rmsErrors.descriptor(wf, step.name, 'its job expansion did not return a list');
  return specs;
}
