/**
 * Times the console's queries on a filled schema: each one built by its own defineQuery
 * function, run once to warm up, then `runs` times; median and max, the rows it returned,
 * and the head of its EXPLAIN (ANALYZE, BUFFERS) plan to show which index it walks.
 */
import type { Knex } from 'knex';
import type { Query } from '../../core/query.js';
import type { Db } from '../../core/db.js';
import { countInStatus, countsOfWorkflow, estimateRows, totalsByStatus } from '../../subsystems/rms/sql/jobCounts.js';
import { jobRange, listFailedSince, listJobs, listQueue } from '../../subsystems/rms/sql/jobs.js';
import { listWorkflows, type WorkflowRow } from '../../subsystems/rms/sql/workflows.js';
import { log } from './common.js';

export interface QueriesOptions {
  runs: number;
  /** Milliseconds a warm query may take. */
  budgetMs: number;
  /** Plan lines shown per query. */
  planLines: number;
}

export interface Measured {
  label: string;
  query: string;
  rows: number;
  medianMs: number;
  maxMs: number;
  access: string;
  planMs: number;
  slow: boolean;
  extra: boolean;
}

interface Case {
  label: string;
  /** Not in the issue's list: measured to show where the console must not go. */
  extra: boolean;
  queryName: string;
  params: unknown;
  build(knex: Knex): Knex.QueryBuilder | Knex.Raw;
}

/** A case of a declared query, its parameters checked against the query's own type. */
function of<P>(label: string, query: Query<P>, params: P, extra = false): Case {
  return { label, extra, queryName: query.queryName, params, build: (knex) => query(knex, params) };
}

function rowsOf(result: unknown): unknown[] {
  if (Array.isArray(result)) return result;
  const rows = (result as { rows?: unknown[] }).rows;
  return Array.isArray(rows) ? rows : [];
}

/** The builder of a declared query, for the parameters given. */
function build<P>(knex: Knex, q: Query<P>, params: P): Knex.QueryBuilder | Knex.Raw {
  return q(knex, params);
}

async function one<P>(knex: Knex, q: Query<P>, params: P): Promise<unknown[]> {
  return rowsOf(await build(knex, q, params));
}

export async function queries(db: Db, o: QueriesOptions): Promise<Measured[]> {
  const knex = db.knex;

  // What the pages are about: found here, outside the timings.
  const raw = async <R>(sql: string, bindings: readonly Knex.RawBinding[] = []) => ((await knex.raw(sql, bindings)) as { rows: R[] }).rows;
  const [{ maxid, minid }] = await raw<{ maxid: number; minid: number }>('select max(id) as maxid, min(id) as minid from rms_workflow');
  if (!maxid) throw new Error('no workflows: run the fill first');
  const [big] = await raw<{ workflowid: number; n: number }>(
    `select workflowid, sum(jobs)::bigint as n from rms_job_count group by workflowid order by n desc limit 1`,
  );
  // The biggest workflow among the newest tenth: its jobs sit at high ids, far from the start of the pkey.
  const [recent] = await raw<{ workflowid: number; n: number }>(
    `select workflowid, sum(jobs)::bigint as n from rms_job_count where workflowid > ? group by workflowid order by n desc limit 1`,
    [Math.floor(minid + 0.9 * (maxid - minid))],
  );
  // A typical workflow: the first one from the middle with about the mean number of jobs.
  const middle = Math.floor((minid + maxid) / 2);
  const [typical] = await raw<{ workflowid: number }>(
    `select workflowid from rms_job_count where workflowid between ? and ? group by workflowid having sum(jobs) between 100 and 130 order by workflowid limit 1`,
    [middle, middle + 5000],
  );
  const typicalId = typical?.workflowid ?? middle;
  // The console reads a workflow's row, then its jobs by the range of ids the row holds.
  const rangeOf = async (id: number) => jobRange((await raw<WorkflowRow>('select id, first_jobid, last_jobid from rms_workflow where id = ?', [id]))[0]);
  const [typicalJobs, bigJobs, recentJobs] = await Promise.all([rangeOf(typicalId), rangeOf(big.workflowid), rangeOf(recent.workflowid)]);
  const bounds = { lo: bigJobs.first ?? 0, hi: bigJobs.last ?? 0 };
  const deepAfter = bounds.lo + Math.floor(0.8 * (bounds.hi - bounds.lo));
  // "Today" as the last 24 hours: a full day of failures whatever the hour the script runs
  // (with LIMIT 50 on the index, the cost does not grow with the window anyway).
  const since = Date.now() - 86_400_000;

  const failedFirst = (await one(knex, listFailedSince, { since, beforeEnd: null, beforeId: 0, limit: 50 })) as { id: number; endtime: number }[];
  const queueFirst = (await one(knex, listQueue, { pool: 'local', afterPriority: null, afterId: 0, limit: 50 })) as { id: number; priority: number }[];
  // A key deep in the queue: walk it page by page (keyset), 80 % of the way or 2000 jobs in.
  const [{ queued }] = await raw<{ queued: number }>(`select count(*) as queued from rms_job where status = 'READY' and pool = 'local'`);
  const deepPages = Math.max(1, Math.min(40, Math.floor((0.8 * queued) / 50)));
  let deepQueueKey: { priority: number; id: number } | null = null;
  {
    let key: { priority: number; id: number } | null = null;
    for (let page = 0; page < deepPages; page++) {
      const rows = (await one(knex, listQueue, { pool: 'local', afterPriority: key?.priority ?? null, afterId: key?.id ?? 0, limit: 50 })) as {
        id: number;
        priority: number;
      }[];
      if (rows.length === 0) break;
      key = { priority: rows[rows.length - 1].priority, id: rows[rows.length - 1].id };
      deepQueueKey = key;
      if (rows.length < 50) break;
    }
  }
  const lastOf = <T>(rows: T[]): T | undefined => rows[rows.length - 1];
  const deepBefore = Math.min(maxid, minid + 1000);
  log(
    `biggest workflow ${big.workflowid} (${big.n} jobs, ids ${bounds.lo}..${bounds.hi}, deep page after ${deepAfter}); biggest recent ${recent.workflowid} (${recent.n} jobs); typical workflow ${typicalId}; ` +
      `failed since ${new Date(since).toISOString()} (${failedFirst.length} on page 1); queue ${queued} READY in local, deep page after ${deepPages * 50}; workflows ${minid}..${maxid}`,
  );

  const cases: Case[] = [
    of('jobs of a workflow, page 1 (typical)', listJobs, { jobs: typicalJobs, status: null, after: 0, limit: 50 }),
    of('jobs of a workflow, page 1 (biggest)', listJobs, { jobs: bigJobs, status: null, after: 0, limit: 50 }),
    of('jobs of a workflow, page 1 (biggest of the newest 10 %)', listJobs, { jobs: recentJobs, status: null, after: 0, limit: 50 }),
    of('jobs of a workflow, deep keyset page (biggest, 80 %)', listJobs, { jobs: bigJobs, status: null, after: deepAfter, limit: 50 }),
    of('failed jobs of a workflow (biggest)', listJobs, { jobs: bigJobs, status: 'FAILED', after: 0, limit: 50 }),
    of('failed jobs today (last 24 h), page 1', listFailedSince, { since, beforeEnd: null, beforeId: 0, limit: 50 }),
    of('failed jobs today (last 24 h), page 2', listFailedSince, { since, beforeEnd: lastOf(failedFirst) ? Number(lastOf(failedFirst)!.endtime) : null, beforeId: Number(lastOf(failedFirst)?.id ?? 0), limit: 50 }),
    of('queue by priority, page 1', listQueue, { pool: 'local', afterPriority: null, afterId: 0, limit: 50 }),
    of('queue by priority, keyset page 2', listQueue, {
      pool: 'local',
      afterPriority: lastOf(queueFirst)?.priority ?? null,
      afterId: lastOf(queueFirst)?.id ?? 0,
      limit: 50,
    }),
    of('queue by priority, deep keyset page', listQueue, { pool: 'local', afterPriority: deepQueueKey?.priority ?? null, afterId: deepQueueKey?.id ?? 0, limit: 50 }),
    of('counts by state of a workflow (biggest)', countsOfWorkflow, { workflowid: big.workflowid }),
    of('workflows, page 1', listWorkflows, { before: null, limit: 50, name: null, status: null }),
    of('workflows, deep keyset page (near the oldest)', listWorkflows, { before: deepBefore, limit: 50, name: null, status: null }),
    of('workflows of a name, deep keyset page', listWorkflows, { before: deepBefore + 5000, limit: 50, name: 'ingest', status: null }),
    of('failed workflows, page 1', listWorkflows, { before: null, limit: 50, name: null, status: 'FAILED' }),
    of('global estimate of jobs', estimateRows, { table: 'rms_job' }),
    of('jobs READY (count)', countInStatus, { status: 'READY' }),
    of('jobs RUNNING (count)', countInStatus, { status: 'RUNNING' }),
    of('jobs FAILED (count)', countInStatus, { status: 'FAILED' }, true),
    of('totals by state, all workflows', totalsByStatus, {}, true),
  ];

  const results: Measured[] = [];
  for (const c of cases) {
    const run = () => c.build(knex);
    const first = rowsOf(await run()); // warm-up
    const times: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      const t = performance.now();
      await run();
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    const max = times[times.length - 1];

    const { sql, bindings } = run().toSQL();
    const plan = (await raw<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${sql}`, bindings as Knex.RawBinding[])).map((r) => r['QUERY PLAN']);
    const scans = plan.map((l) => /(Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan|Parallel Seq Scan)(?: Backward)?(?: using (\S+))? on (\S+)/.exec(l)).filter((m) => m !== null);
    const access = scans.map((m) => (m[2] ? `${m[1]} ${m[2]}` : `${m[1]} ${m[3]}`)).join(', ') || 'none';
    const planMs = Number(/Execution Time: ([\d.]+) ms/.exec(plan.join('\n'))?.[1] ?? NaN);
    const slow = max > o.budgetMs;
    results.push({ label: c.label, query: c.queryName, rows: first.length, medianMs: median, maxMs: max, access, planMs, slow, extra: c.extra });

    process.stdout.write(`\n${slow ? 'SLOW ' : ''}${c.label} — ${c.queryName} ${JSON.stringify(c.params)}\n`);
    process.stdout.write(`  ${first.length} rows; median ${median.toFixed(2)} ms, max ${max.toFixed(2)} ms over ${o.runs} warm runs\n`);
    const isTime = (l: string) => /^(Planning|Execution) Time/.test(l);
    // The plan's nodes, without the planning section and the time lines (shown last).
    const body = plan.filter((l, i) => !isTime(l) && l !== 'Planning:' && !(plan[i - 1] === 'Planning:' && /^\s+Buffers:/.test(l)));
    for (const line of body.slice(0, o.planLines)) process.stdout.write(`  | ${line}\n`);
    if (body.length > o.planLines) process.stdout.write(`  | ... (${body.length - o.planLines} more lines)\n`);
    for (const line of plan.filter(isTime)) process.stdout.write(`  | ${line}\n`);
  }

  process.stdout.write(`\n| query | declared as | rows | median ms | max ms | access path | |\n|---|---|---:|---:|---:|---|---|\n`);
  for (const r of results) {
    process.stdout.write(
      `| ${r.label}${r.extra ? ' (extra)' : ''} | ${r.query} | ${r.rows} | ${r.medianMs.toFixed(2)} | ${r.maxMs.toFixed(2)} | ${r.access} | ${r.slow ? `**> ${o.budgetMs} ms**` : 'ok'} |\n`,
    );
  }
  const slow = results.filter((r) => r.slow);
  process.stdout.write(
    slow.length === 0
      ? `\nevery query under ${o.budgetMs} ms warm\n`
      : `\n${slow.length} quer${slow.length === 1 ? 'y' : 'ies'} over ${o.budgetMs} ms: ${slow.map((r) => r.label + (r.extra ? ' (extra)' : '')).join('; ')}\n`,
  );
  return results;
}
