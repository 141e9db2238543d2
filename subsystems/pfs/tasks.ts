import { existsSync } from 'node:fs';
import { isAbsolute, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pfsErrors } from './errors.js';

/**
 * A task type (ARCHITECTURE §7): a TypeScript function run in the worker-thread pool, or an
 * external program in any language started with a job-spec file. The same task type runs
 * unchanged on every executor.
 */
export type TaskType =
  | {
      name: string;
      kind: 'function';
      /** The module (file URL or absolute path) whose export runs the task. */
      module: string;
      /** The export to call; `default` unless told. */
      export?: string;
    }
  | {
      name: string;
      kind: 'program';
      /** The program and its arguments; the job-spec file's path is appended. */
      command: string[];
      /** Files the program must leave in its output directory for the job to succeed. */
      outputs?: string[];
    };

/** What a task receives: its job, as the job-spec file of an external program also holds it. */
export interface JobSpec {
  jobid: number;
  workflowid: number;
  stepid: number;
  tasktype: string;
  attempt: number;
  /** The job's data specification: what it processes. */
  dataspec: unknown;
  /** The workflow's parameters. */
  params: Record<string, unknown>;
  solutionid: number | null;
  /** A directory of the job's own for what it writes. */
  outputDir: string;
}

/** Of a claimed job, what its spec is made from besides its workflow's parameters. */
export interface SpecSource {
  id: number;
  workflowid: number;
  stepid: number;
  tasktype: string;
  attempts: number;
  dataspec: string | null;
  solutionid: number | null;
}

/**
 * A job's spec, made where its task runs: a worker thread parses a TypeScript task's, so the
 * coordinator's thread sends text and parses nothing. Each job gets objects of its own.
 */
export function jobSpec(job: SpecSource, params: string | null, outputRoot: string): JobSpec {
  return {
    jobid: job.id,
    workflowid: job.workflowid,
    stepid: job.stepid,
    tasktype: job.tasktype,
    attempt: job.attempts + 1,
    dataspec: parse(job.dataspec),
    params: (parse(params) ?? {}) as Record<string, unknown>,
    solutionid: job.solutionid,
    outputDir: jobOutputDir(outputRoot, job),
  };
}

/** A job's own directory for what it writes, under an absolute, normalised root. */
function jobOutputDir(outputRoot: string, job: { workflowid: number; id: number }): string {
  // Not path.join: its normalising is most of a no-op job's spec, and the parts are numbers.
  return `${outputRoot}${sep}${job.workflowid}${sep}${job.id}`;
}

/** JSON text as its value; text that is not JSON as itself; none as an empty object. */
function parse(text: string | null): unknown {
  if (text === null) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** What a TypeScript task receives besides its job. */
export interface TaskContext {
  /** Writes a line to the job's own log file (made on the first line). */
  log(message: string): void;
  /** Aborted when the job is cancelled or runs past its timeout. */
  signal: AbortSignal;
}

/** A TypeScript task: its result (JSON) is recorded with the job; a throw fails the job. */
export type TaskFunction = (spec: JobSpec, ctx: TaskContext) => unknown;

const NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/** The task types this process knows, by name. */
export class TaskTypes {
  private readonly byName = new Map<string, TaskType>();

  register(type: TaskType): void {
    if (typeof type?.name !== 'string' || !NAME.test(type.name)) throw pfsErrors.taskType(String(type?.name), 'a task type name must be 1 to 64 letters, digits, _ . or -');
    if (this.byName.has(type.name)) throw pfsErrors.taskType(type.name, 'registered twice');
    if (type.kind === 'function') {
      if (typeof type.module !== 'string' || type.module === '') throw pfsErrors.taskType(type.name, 'module is missing');
      const file = type.module.startsWith('file:') ? fileURLToPath(type.module) : isAbsolute(type.module) ? type.module : resolve(type.module);
      // Run from source, `new URL('./tasks.js', import.meta.url)` names a file that is tasks.ts.
      const source = file.replace(/\.js$/, '.ts');
      const found = existsSync(file) ? file : existsSync(source) ? source : undefined;
      if (!found) throw pfsErrors.taskType(type.name, `its module ${file} does not exist`);
      this.byName.set(type.name, { ...type, module: pathToFileURL(found).href });
    } else if (type.kind === 'program') {
      if (!Array.isArray(type.command) || type.command.length === 0 || type.command.some((c) => typeof c !== 'string')) throw pfsErrors.taskType(type.name, 'command must be a non-empty list of strings');
      this.byName.set(type.name, type);
    } else throw pfsErrors.taskType(String((type as { name?: string }).name), 'kind must be function or program');
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  get(name: string): TaskType | undefined {
    return this.byName.get(name);
  }
}
