import type { Knex } from 'knex';
import { chunks, insertedId, INSERT_ROWS_MAX } from '../../core/query.js';
import type { Bus } from '../ems/index.js';
import { settleWorkflow, type Finished } from './bookkeeping.js';
import { expandStep, MAX_PRIORITY, type Params } from './descriptor.js';
import { rmsErrors } from './errors.js';
import { inputSolutions, recordSolution } from './provenance.js';
import type { Registered } from './registry.js';
import { insertCounts } from './sql/jobCounts.js';
import { createStepJobs } from './sql/jobs.js';
import { insertShares } from './sql/shares.js';
import { insertStep, insertStepDeps } from './sql/steps.js';
import { insertWorkflow, selectWorkflowByRun, setWorkflowJobs, setWorkflowSolution } from './sql/workflows.js';
import { emptyCounts, JobWork, type JobStatus } from './work.js';

export type TriggerKind = 'CRON' | 'DATA' | 'MANUAL' | 'BACKFILL' | 'REPROCESS';

export interface StartRequest {
  trigger: TriggerKind;
  /** What started it, unique per workflow: a second request with the same runid creates nothing. */
  runid: string;
  params: Params;
  createdBy: string;
  priority?: number;
  transferid?: number | null;
  parentid?: number | null;
  /** The request's share of the queue, named by its first workflow (a backfill's first day); absent: this workflow starts one. */
  shareid?: number;
  /**
   * Reprocessing: per step, the data specifications of the jobs to create, or 'done' for a
   * step that succeeded before and is not run again. Absent: the descriptor's expansion.
   */
  jobsOf?: Map<string, string[] | 'done'>;
}

export interface Started {
  id: number;
  /** False when a workflow with this runid already existed: nothing was created. */
  created: boolean;
  jobs: number;
  finished?: Finished;
}

const DATASPEC_MAX = 4000;

/**
 * Creates a workflow of a registered descriptor version in one transaction: the
 * workflow, its output solution and provenance, its steps, all its jobs and their counts.
 * The steps that can start do so at once, their jobs made READY; the others' jobs are made
 * WAITING. A kill -9 before the commit leaves nothing of it: a workflow is whole or absent.
 * Until the commit its rows are seen by no other transaction, so on PostgreSQL and Oracle the
 * claims of other workflows go on meanwhile; SQLite's one writer takes them after it. A runid
 * already used returns the workflow it names.
 */
export async function createWorkflow(
  trx: Knex.Transaction,
  bus: Bus,
  reg: Registered,
  req: StartRequest,
  ctx: { now: number; configid: number; version: string },
): Promise<Started> {
  const { descriptor } = reg;
  const [existing] = (await selectWorkflowByRun(trx, { name: descriptor.name, runid: req.runid })) as { id: number }[];
  if (existing) return { id: Number(existing.id), created: false, jobs: 0 };
  const priority = req.priority ?? descriptor.priority ?? 0;
  if (!Number.isInteger(priority) || Math.abs(priority) > MAX_PRIORITY) throw rmsErrors.badPriority(`workflow "${descriptor.name}"`, priority);
  const params = JSON.stringify(req.params ?? {});
  const { now } = ctx;

  // Expanded before anything is written: a bad expansion creates nothing.
  const specsOf = new Map<string, string[] | 'done'>();
  for (const name of reg.order) {
    const step = descriptor.steps.find((s) => s.name === name)!;
    const given = req.jobsOf?.get(name);
    if (given !== undefined) {
      specsOf.set(name, given);
      continue;
    }
    const specs = expandStep(descriptor.name, step, req.params).map((s) => JSON.stringify(s ?? {}));
    const long = specs.find((s) => s.length > DATASPEC_MAX);
    if (long) throw rmsErrors.descriptor(descriptor.name, name, `a job's data specification has ${long.length} characters; at most ${DATASPEC_MAX}`);
    specsOf.set(name, specs);
  }

  const id = insertedId(
    await insertWorkflow(trx, {
      name: descriptor.name,
      descid: reg.descid,
      status: 'RUNNING',
      runid: req.runid,
      transferid: req.transferid ?? null,
      trigger_kind: req.trigger,
      params,
      priority,
      configid: ctx.configid,
      parentid: req.parentid ?? null,
      created_by: req.createdBy.slice(0, 64),
      created: now,
      starttime: now,
    }),
  );
  const solutionid = await recordSolution(trx, {
    dmtype: descriptor.output,
    version: ctx.version,
    configid: ctx.configid,
    workflowid: id,
    now,
    automatic: req.trigger !== 'MANUAL',
    description: req.trigger === 'REPROCESS' ? `reprocessing of workflow ${req.parentid}` : null,
    inputs: inputSolutions(req.params),
  });
  await setWorkflowSolution(trx, { id, solutionid });
  const shareid = req.shareid ?? id;
  if (shareid === id) {
    const pools = [...new Set(descriptor.steps.map((s) => s.pool ?? 'local'))];
    await insertShares(trx, { rows: pools.map((pool) => ({ pool, shareid, pass: 0 })) });
  }

  const stepIds = new Map<string, number>();
  const work = new JobWork(trx);
  let total = 0;
  // The range of the workflow's job ids: the console and the actions find its jobs by it.
  let first: number | undefined;
  let last: number | undefined;
  const countRows: { workflowid: number; stepid: number; status: JobStatus; jobs: number }[] = [];
  // A step whose upstream steps are all done starts now: its jobs are made READY, not made
  // WAITING then moved, which would write each row twice.
  const done = new Set<string>();
  for (const [position, name] of reg.order.entries()) {
    const step = descriptor.steps.find((s) => s.name === name)!;
    const specs = specsOf.get(name)!;
    if (specs === 'done') done.add(name);
    const starts = specs !== 'done' && (step.after ?? []).every((up) => done.has(up));
    const status = specs === 'done' ? 'SUCCESS' : starts ? 'RUNNING' : 'WAITING';
    const stepid = insertedId(await insertStep(trx, { workflowid: id, name, tasktype: step.tasktype, status, position, starttime: status === 'WAITING' ? null : now }));
    stepIds.set(name, stepid);
    const after = (step.after ?? []).map((up) => ({ stepid, upstreamid: stepIds.get(up)! }));
    if (after.length > 0) await insertStepDeps(trx, { rows: after });
    const n = specs === 'done' ? 0 : specs.length;
    const counts = emptyCounts();
    counts[starts ? 'READY' : 'WAITING'] = n;
    countRows.push(...(Object.keys(counts) as JobStatus[]).map((s) => ({ workflowid: id, stepid, status: s, jobs: counts[s] })));
    if (specs === 'done') continue;
    const made = await createStepJobs(
      trx,
      {
        workflowid: id,
        stepid,
        status: starts ? 'READY' : 'WAITING',
        priority: Math.max(-MAX_PRIORITY, Math.min(MAX_PRIORITY, priority + (step.priority ?? 0))),
        tasktype: step.tasktype,
        solutionid,
        max_attempts: step.retry?.attempts ?? 1,
        backoff_ms: step.retry?.backoffMs ?? 0,
        run_after: now,
        timeout_ms: step.timeoutMs ?? null,
        cpus: step.cpus ?? 1,
        memory_mb: step.memoryMb ?? null,
        pool: step.pool ?? 'local',
        shareid,
        created: now,
      },
      specs,
    );
    if (made) {
      first = Math.min(first ?? made.first, made.first);
      last = Math.max(last ?? made.last, made.last);
    }
    total += n;
  }
  // The counts once, with the jobs they count: nothing reads them before the commit.
  for (const part of chunks(countRows, INSERT_ROWS_MAX)) await insertCounts(trx, { rows: part });
  if (first !== undefined && last !== undefined) await setWorkflowJobs(trx, { id, first, last });
  const finished = await settleWorkflow(work, bus, id, now);
  return { id, created: true, jobs: total, finished };
}
