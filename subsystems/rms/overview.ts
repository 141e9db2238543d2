import type { Db } from '../../core/db.js';
import { countsOfLiveWorkflows, countWorkflowsEnded, countWorkflowsIn, heldByPool, readyByPool } from './sql/overview.js';
import { emptyCounts, type JobStatus } from './work.js';

/** Today's work at a glance (the Welcome page): read from indexes and per-step counts, cheap at 40 million jobs. */
export interface WorkAtAGlance {
  workflows: { running: number; paused: number; failedToday: number; succeededToday: number };
  /** Jobs by state in the instances not yet ended. */
  jobs: Record<JobStatus, number>;
  /** READY jobs: what waits for a place. */
  queueDepth: number;
  /** Since when "today" counts: midnight UTC. */
  since: number;
}

const count = (rows: unknown) => Number((rows as { n: number | string }[])[0]?.n ?? 0);

/** What the Welcome page and the Node Monitor read of run management. */
export class Overview {
  constructor(private readonly db: Db) {}

  async today(now: number): Promise<WorkAtAGlance> {
    const { knex } = this.db;
    const since = now - (now % 86_400_000);
    const jobs = emptyCounts();
    for (const r of (await countsOfLiveWorkflows(knex, { statuses: ['CREATED', 'RUNNING', 'PAUSED'] })) as { status: JobStatus; jobs: unknown }[]) jobs[r.status] = Number(r.jobs);
    return {
      workflows: {
        running: count(await countWorkflowsIn(knex, { status: 'RUNNING' })),
        paused: count(await countWorkflowsIn(knex, { status: 'PAUSED' })),
        failedToday: count(await countWorkflowsEnded(knex, { status: 'FAILED', since })),
        succeededToday: count(await countWorkflowsEnded(knex, { status: 'SUCCESS', since })),
      },
      jobs,
      queueDepth: jobs.READY,
      since,
    };
  }

  /** READY jobs by pool and priority, highest priority first. */
  async queue(): Promise<{ pool: string; priority: number; ready: number }[]> {
    return ((await readyByPool(this.db.knex, {})) as { pool: string; priority: unknown; n: unknown }[]).map((r) => ({ pool: r.pool, priority: Number(r.priority), ready: Number(r.n) }));
  }

  /** Jobs CLAIMED or RUNNING, by pool. */
  async held(): Promise<Map<string, number>> {
    return new Map(((await heldByPool(this.db.knex, {})) as { pool: string; n: unknown }[]).map((r) => [r.pool, Number(r.n)]));
  }
}
