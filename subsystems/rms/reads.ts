import type { Db } from '../../core/db.js';
import { chunks, IN_LIST_MAX } from '../../core/query.js';
import { rmsErrors } from './errors.js';
import { countInStatus, countsOfWorkflow, endedBetween, estimateRows } from './sql/jobCounts.js';
import { readyByPool } from './sql/overview.js';
import { jobRange, listFailedSince, listJobs, listQueue, selectJob } from './sql/jobs.js';
import { workflowIdsCreated } from './sql/jobQuery.js';
import { selectSolution, selectSolutionInputs, selectConfig } from './sql/solutions.js';
import { selectSteps, type StepRow } from './sql/steps.js';
import { countsOfWorkflowSteps } from './sql/grid.js';
import { countWorkflows, listWorkflows, selectWorkflow, type WorkflowFilter, type WorkflowRow } from './sql/workflows.js';
import { ACTIVE, emptyCounts, type JobStatus } from './work.js';

/** The filter of Recent and History: a name, a state, a span of creation times (Unix ms, `to` exclusive). */
export interface WorkflowQuery {
  name?: string;
  status?: string;
  createdFrom?: number;
  createdTo?: number;
}

const clampLimit = (n: number | undefined) => Math.min(Math.max(n ?? 50, 1), 500);

/** A workflow row with its parameters as the object they were given as: one shape in every read. */
function withParams(wf: WorkflowRow) {
  return { ...wf, params: wf.params === null ? null : (JSON.parse(wf.params) as Record<string, unknown>) };
}

/** What the console, the API and the CLI read of run management; every list is paged by key. */
/** Recent and History count the workflows that match up to this many. */
export const WORKFLOW_COUNT_CAP = 10_000;

export class Reads {
  constructor(private readonly db: Db) {}

  async workflow(id: number) {
    const [wf] = (await selectWorkflow(this.db.knex, { id })) as WorkflowRow[];
    if (!wf) throw rmsErrors.workflowNotFound(id);
    const steps = (await selectSteps(this.db.knex, { workflowid: id })) as StepRow[];
    const counts = new Map<number, Record<JobStatus, number>>();
    for (const r of (await countsOfWorkflow(this.db.knex, { workflowid: id })) as { stepid: number; status: JobStatus; jobs: number }[]) {
      const c = counts.get(Number(r.stepid)) ?? emptyCounts();
      c[r.status] = Number(r.jobs);
      counts.set(Number(r.stepid), c);
    }
    const total = emptyCounts();
    for (const c of counts.values()) for (const s of Object.keys(c) as JobStatus[]) total[s] += c[s];
    return {
      ...withParams(wf),
      counts: total,
      steps: steps.map((s) => ({ ...s, id: Number(s.id), counts: counts.get(Number(s.id)) ?? emptyCounts() })),
    };
  }

  /**
   * Recent and History: newest first, `limit` a page ("How many"), optionally of a span of
   * creation times (Unix ms, `to` exclusive); each with its jobs done, failed and in all.
   */
  async listWorkflows(o: WorkflowQuery & { before?: number; limit?: number } = {}) {
    const filter = await this.workflowFilter(o);
    if (filter === undefined) return [];
    const rows = (await listWorkflows(this.db.knex, { ...filter, before: o.before ?? null, limit: clampLimit(o.limit) })) as WorkflowRow[];
    const jobs = await this.jobTotals(rows.map((w) => Number(w.id)));
    return rows.map((w) => ({ ...withParams(w), jobs: jobs.get(Number(w.id))! }));
  }

  /** How many workflows the filter of Recent and History matches (up to WORKFLOW_COUNT_CAP: then not `exact`), on the index its list walks. */
  async countWorkflows(o: WorkflowQuery = {}): Promise<{ count: number; exact: boolean }> {
    const filter = await this.workflowFilter(o);
    if (filter === undefined) return { count: 0, exact: true };
    const [row] = (await countWorkflows(this.db.knex, { ...filter, cap: WORKFLOW_COUNT_CAP + 1 })) as { n: number | string }[];
    const n = Number(row?.n ?? 0);
    return n > WORKFLOW_COUNT_CAP ? { count: WORKFLOW_COUNT_CAP, exact: false } : { count: n, exact: true };
  }

  /** Jobs done (SUCCESS), failed and in all of some workflows, from the per-step counts: never a read of rms_job. */
  private async jobTotals(workflowids: number[]): Promise<Map<number, { done: number; failed: number; total: number }>> {
    const totals = new Map(workflowids.map((id) => [id, { done: 0, failed: 0, total: 0 }]));
    for (const ids of chunks(workflowids, IN_LIST_MAX)) {
      for (const r of (await countsOfWorkflowSteps(this.db.knex, { ids })) as { workflowid: number; status: JobStatus; jobs: number }[]) {
        const t = totals.get(Number(r.workflowid))!;
        t.total += Number(r.jobs);
        if (r.status === 'SUCCESS') t.done += Number(r.jobs);
        if (r.status === 'FAILED') t.failed += Number(r.jobs);
      }
    }
    return totals;
  }

  /** The filter of a list; undefined when its span holds no workflow. */
  private async workflowFilter(o: WorkflowQuery): Promise<WorkflowFilter | undefined> {
    let created = null;
    if (o.createdFrom !== undefined || o.createdTo !== undefined) {
      const span = { from: o.createdFrom ?? 0, to: o.createdTo ?? Number.MAX_SAFE_INTEGER };
      const [ids] = (await workflowIdsCreated(this.db.knex, span)) as { lo: number | null; hi: number | null }[];
      if (ids?.lo == null || ids.hi == null) return undefined;
      created = { ...span, lo: Number(ids.lo), hi: Number(ids.hi) };
    }
    return { name: o.name ?? null, status: o.status ?? null, created };
  }

  async job(id: number) {
    const [job] = await selectJob(this.db.knex, { id });
    if (!job) throw rmsErrors.jobNotFound(id);
    return job as Record<string, unknown>;
  }

  /** The jobs of a workflow by id, paged by key; none for a workflow that does not exist. */
  async jobs(workflowid: number, o: { after?: number; limit?: number; status?: string } = {}): Promise<Record<string, unknown>[]> {
    const [wf] = (await selectWorkflow(this.db.knex, { id: workflowid })) as WorkflowRow[];
    if (!wf) return [];
    return (await listJobs(this.db.knex, { jobs: jobRange(wf), after: o.after ?? 0, limit: clampLimit(o.limit), status: o.status ?? null })) as Record<string, unknown>[];
  }

  failedSince(since: number, o: { beforeEnd?: number; beforeId?: number; limit?: number } = {}) {
    return listFailedSince(this.db.knex, { since, beforeEnd: o.beforeEnd ?? null, beforeId: o.beforeId ?? 0, limit: clampLimit(o.limit) }) as Promise<Record<string, unknown>[]>;
  }

  queue(pool: string, o: { afterPriority?: number; afterId?: number; limit?: number } = {}) {
    return listQueue(this.db.knex, { pool, afterPriority: o.afterPriority ?? null, afterId: o.afterId ?? 0, limit: clampLimit(o.limit) }) as Promise<Record<string, unknown>[]>;
  }

  /**
   * Jobs by state over every workflow. The states a job passes through are counted exactly
   * (they stay small, and indexes of active jobs answer); the total of all jobs ever, 40 million at
   * the DPCT's scale, is the database's estimate and is marked as such.
   */
  async totals(): Promise<{ byStatus: Partial<Record<JobStatus, number>>; total: number; totalIsEstimate: boolean }> {
    const byStatus: Partial<Record<JobStatus, number>> = {};
    for (const status of ACTIVE) {
      const [row] = (await countInStatus(this.db.knex, { status })) as { n: number | string }[];
      byStatus[status] = Number(row?.n ?? 0);
    }
    const result = (await estimateRows(this.db.knex, { table: 'rms_job' })) as unknown;
    const rows = (Array.isArray(result) ? result : ((result as { rows?: unknown[] }).rows ?? [])) as { n: number | string }[];
    return { byStatus, total: Math.max(Number(rows[0]?.n ?? 0), 0), totalIsEstimate: this.db.dialect !== 'sqlite' };
  }

  /** Jobs that ended in [from, to) (Unix ms), by final state: the Monitor's jobs per second. */
  async ended(from: number, to: number): Promise<Partial<Record<JobStatus, number>>> {
    const rows = (await endedBetween(this.db.knex, { from, to })) as { status: JobStatus; n: number | string }[];
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  /** READY jobs by pool and priority: the queue's depth. */
  async readyDepth(): Promise<{ pool: string; priority: number; jobs: number }[]> {
    const rows = (await readyByPool(this.db.knex, {})) as { pool: string; priority: number | string; n: number | string }[];
    return rows.map((r) => ({ pool: r.pool, priority: Number(r.priority), jobs: Number(r.n) }));
  }

  /** A solution with its provenance: configuration instance, software version, input solutions. */
  async solution(id: number) {
    const [s] = (await selectSolution(this.db.knex, { id })) as { configid: number | null }[];
    if (!s) throw rmsErrors.badParams(`solution ${id} not found`);
    const inputs = await selectSolutionInputs(this.db.knex, { id });
    const [config] = s.configid === null ? [] : ((await selectConfig(this.db.knex, { id: s.configid })) as Record<string, unknown>[]);
    return { ...s, inputs, config: config ? { ...config, content: JSON.parse(String(config.content)) as unknown } : null };
  }
}
