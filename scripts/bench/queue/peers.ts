/**
 * Peer half of the job-queue benchmark: graphile-worker and pg-boss measured on
 * the same PostgreSQL database as DPC's own queue, so the runner can print
 * jobs/s side by side.
 *
 * Both peers are dev dependencies and are loaded with dynamic `import()` only,
 * so this file stays usable (peerAvailability() says what is missing) when one
 * of them is not installed, and nothing here leaks into server code.
 *
 * Method, per benchmark:
 *  1. install the peer's schema into a fresh PostgreSQL schema (`o.schema`);
 *  2. enqueue `o.jobs` no-op jobs with the peer's bulk path (timed: createMs);
 *  3. start the workers with the requested concurrency and time from the
 *     moment the workers are started until (a) the handler counter has seen
 *     every job AND (b) the database confirms nothing is left pending (timed:
 *     runMs; jobsPerSec = jobs / runMs);
 *  4. stop the workers cleanly and drop the schema (finally).
 */
import { createRequire } from 'node:module';
import pg from 'pg';
import type { Runner, TaskList, RunnerOptions } from 'graphile-worker';
import type PgBossType from 'pg-boss';
import { startCpuMeter, type CpuPerJob } from './cpu.js';

export interface PeerResult {
  peer: string;
  mode: string;
  concurrency: number;
  jobs: number;
  createMs: number;
  runMs: number;
  jobsPerSec: number;
  /** CPU spent per job during the run. */
  cpu: CpuPerJob;
}

export interface PeerOptions {
  connectionString: string;
  jobs: number;
  concurrency: 1 | 4 | number;
  /** a fresh schema name to isolate the peer, dropped afterwards */
  schema: string;
  /** ANALYZE the peer's tables after enqueue, untimed (default true; see analyzeSchema) */
  analyze?: boolean;
}

/** Extra knobs for pg-boss (all optional; the defaults are what the runner uses). */
export interface PgBossExtraOptions {
  /** jobs fetched per `work()` poll; default PGBOSS_DEFAULT_BATCH_SIZE */
  batchSize?: number;
  /** pg-boss 10 floor is 0.5 s; default 0.5 */
  pollingIntervalSeconds?: number;
  /**
   * Non-default mode: when a fetch came back full (batch.length === batchSize)
   * the handler calls the public `boss.notifyWorker(workerId)`, which makes the
   * worker loop skip its poll sleep and fetch again at once. This measures
   * pg-boss's fetch/complete path rather than its poll interval. Default false
   * (stock pg-boss behaviour).
   */
  drain?: boolean;
}

/** Give up (and fail the benchmark) if processing takes longer than this. */
const RUN_TIMEOUT_MS = 10 * 60_000;
/** How often the database is polled once the handler counter is complete. */
const DB_POLL_MS = 5;

// --- graphile-worker settings -------------------------------------------------
/** Poll interval (ms) for graphile-worker; the jobs are all present before the
 * workers start, so this only matters for the idle tail, not for throughput. */
const GW_POLL_INTERVAL_MS = 100;
/**
 * Batched mode. In graphile-worker 0.17.x these are NOT legacy `run()` options
 * (RunnerOptions has no such keys, and `legacyOptionsToPreset` in dist/lib.js
 * warns on unknown keys); they are `GraphileConfig.WorkerOptions` read from the
 * resolved preset (`resolvedPreset.worker.localQueue.size`,
 * `.completeJobBatchDelay`, `.failJobBatchDelay` in dist/main.js). So we pass
 * them via `run({ ..., preset: { worker: { ... } } })`; the legacy options
 * (`concurrency`, `schema`, ...) are layered on top of that preset by
 * graphile-worker itself. Values are those of the upstream performance page
 * (https://worker.graphile.org/docs/performance): localQueue.size 500,
 * completeJobBatchDelay 0, failJobBatchDelay 0.
 */
const GW_LOCAL_QUEUE_SIZE = 500;
const GW_COMPLETE_JOB_BATCH_DELAY_MS = 0;
const GW_FAIL_JOB_BATCH_DELAY_MS = 0;
/** addJobs() is one `add_jobs(job_spec[])` SQL call per chunk. */
const GW_ADD_JOBS_CHUNK = 10_000;

// --- pg-boss settings ---------------------------------------------------------
/**
 * pg-boss 10.x has no per-worker concurrency option (`localConcurrency` came
 * later), so concurrency N = N `work()` calls. Each worker loop fetches up to
 * `batchSize` jobs, runs the handler with the array, fires `complete()` WITHOUT
 * awaiting it, then sleeps `pollingInterval - loopDuration` if that is >100 ms
 * -- even when it just found jobs (src/worker.js). pollingIntervalSeconds may
 * not go below 0.5, so one worker does at most ~batchSize/0.5s unless a loop
 * takes >400 ms: batchSize is therefore the knob that decides pg-boss's figure.
 */
export const PGBOSS_DEFAULT_BATCH_SIZE = 500;
const PGBOSS_DEFAULT_POLL_S = 0.5;
const PGBOSS_QUEUE = 'noop';

const IDENT_RE = /^[a-z_][a-z0-9_]{0,62}$/;

function assertSchemaName(schema: string): void {
  if (!IDENT_RE.test(schema)) {
    throw new Error(`peer schema name must match ${IDENT_RE} (got ${JSON.stringify(schema)})`);
  }
}

function assertOptions(o: PeerOptions): void {
  assertSchemaName(o.schema);
  if (!Number.isInteger(o.jobs) || o.jobs < 1) throw new Error(`jobs must be a positive integer (got ${o.jobs})`);
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1) {
    throw new Error(`concurrency must be a positive integer (got ${o.concurrency})`);
  }
}

export async function withClient<T>(connectionString: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function dropSchema(connectionString: string, schema: string): Promise<void> {
  assertSchemaName(schema);
  await withClient(connectionString, (c) => c.query(`drop schema if exists "${schema}" cascade`));
}

/**
 * ANALYZE every table of the peer's schema (untimed, after the bulk enqueue).
 * A freshly created schema has no planner statistics and autovacuum will not
 * get to it within a benchmark run; without them pg-boss's complete() UPDATE
 * (`id IN (SELECT UNNEST($2::uuid[]))` on the job partition) is planned as a
 * nested loop over every row of the partition, i.e. O(batch x queue) -- 10x
 * slower for batch 2000 / 20000 queued jobs -- which would measure the missing
 * statistics, not the queue. Real deployments have autoanalyzed tables, so
 * every side gets the same treatment, DPC's included.
 */
export async function analyzeSchema(c: pg.Client, schema: string): Promise<void> {
  const { rows } = await c.query<{ relname: string }>(
    `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relkind in ('r', 'p')`,
    [schema],
  );
  for (const r of rows) await c.query(`analyze "${schema}"."${r.relname.replace(/"/g, '""')}"`);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A promise resolved when the handler counter reaches `target`. */
function makeCounter(target: number) {
  let count = 0;
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  return {
    add(n: number) {
      count += n;
      if (count >= target) resolve();
    },
    get count() {
      return count;
    },
    done,
  };
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what()}`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** Poll `sql` (must return one row with an integer column `n`) until n = 0. */
async function waitUntilZero(c: pg.Client, sql: string, deadline: number, what: string): Promise<void> {
  for (;;) {
    const { rows } = await c.query<{ n: number }>(sql);
    if (rows[0].n === 0) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (still ${rows[0].n})`);
    await sleep(DB_POLL_MS);
  }
}

function result(peer: string, mode: string, o: PeerOptions, createMs: number, runMs: number, cpu: CpuPerJob): PeerResult {
  return {
    cpu,
    peer,
    mode,
    concurrency: o.concurrency,
    jobs: o.jobs,
    createMs: Math.round(createMs * 10) / 10,
    runMs: Math.round(runMs * 10) / 10,
    jobsPerSec: Math.round((o.jobs / (runMs / 1000)) * 10) / 10,
  };
}

// =============================================================================
// graphile-worker
// =============================================================================

export async function benchGraphileWorker(o: PeerOptions & { batched: boolean }): Promise<PeerResult> {
  assertOptions(o);
  const gw = await import('graphile-worker');
  const { connectionString, schema, jobs, concurrency } = o;
  // Quiet logger: graphile-worker's Logger wraps a log-function factory.
  const logger = new gw.Logger(() => () => {});

  const mode = o.batched
    ? `batched(localQueue.size=${GW_LOCAL_QUEUE_SIZE},completeJobBatchDelay=${GW_COMPLETE_JOB_BATCH_DELAY_MS},failJobBatchDelay=${GW_FAIL_JOB_BATCH_DELAY_MS})`
    : 'default';

  await dropSchema(connectionString, schema);
  let runner: Runner | undefined;
  let utils: Awaited<ReturnType<typeof gw.makeWorkerUtils>> | undefined;
  const monitor = new pg.Client({ connectionString });
  let monitorOpen = false;
  try {
    // 1. install schema (migrate) in its own PostgreSQL schema
    utils = await gw.makeWorkerUtils({ connectionString, schema, logger });
    await utils.migrate();
    await monitor.connect();
    monitorOpen = true;

    // 2. bulk enqueue with the documented bulk path: addJobs() -> add_jobs(job_spec[])
    const t0 = performance.now();
    for (let i = 0; i < jobs; i += GW_ADD_JOBS_CHUNK) {
      const n = Math.min(GW_ADD_JOBS_CHUNK, jobs - i);
      const specs = Array.from({ length: n }, () => ({ identifier: 'noop', payload: {} }));
      await utils.addJobs(specs);
    }
    const createMs = performance.now() - t0;
    await utils.release();
    utils = undefined;

    const { rows: pre } = await monitor.query<{ n: number }>(
      `select count(*)::int as n from "${schema}"._private_jobs`,
    );
    if (pre[0].n !== jobs) throw new Error(`graphile-worker: expected ${jobs} queued jobs, found ${pre[0].n}`);
    if (o.analyze !== false) await analyzeSchema(monitor, schema);

    // 3. run workers; clock starts when we start the runner
    const counter = makeCounter(jobs);
    const taskList: TaskList = {
      noop: async () => {
        counter.add(1);
      },
    };
    const runOpts: RunnerOptions = {
      connectionString,
      schema,
      concurrency,
      noHandleSignals: true,
      pollInterval: GW_POLL_INTERVAL_MS,
      logger,
      taskList,
      // no cron: keeps Worker from reading ./crontab in whatever cwd we run in
      parsedCronItems: [],
      ...(o.batched
        ? {
            preset: {
              worker: {
                localQueue: { size: GW_LOCAL_QUEUE_SIZE },
                completeJobBatchDelay: GW_COMPLETE_JOB_BATCH_DELAY_MS,
                failJobBatchDelay: GW_FAIL_JOB_BATCH_DELAY_MS,
              },
            },
          }
        : {}),
    };
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    const cpu = startCpuMeter();
    const tStart = performance.now();
    runner = await gw.run(runOpts);
    // a fatal pool error rejects runner.promise: surface it instead of hanging
    const poolFailed = runner.promise.then(
      () => Promise.reject(new Error('graphile-worker runner exited before all jobs ran')),
      (e: unknown) => Promise.reject(e),
    );
    poolFailed.catch(() => undefined);
    await withTimeout(
      Promise.race([counter.done, poolFailed]),
      RUN_TIMEOUT_MS,
      () => `graphile-worker handler saw ${counter.count}/${jobs}`,
    );
    // completion deletes the row: done when the jobs table is empty
    await waitUntilZero(
      monitor,
      `select count(*)::int as n from "${schema}"._private_jobs`,
      deadline,
      'graphile-worker _private_jobs to empty',
    );
    const runMs = performance.now() - tStart;
    const cpuPerJob = cpu(jobs);
    if (counter.count !== jobs) {
      throw new Error(`graphile-worker: handler ran ${counter.count} times for ${jobs} jobs`);
    }
    return result('graphile-worker', mode, o, createMs, runMs, cpuPerJob);
  } finally {
    if (runner) await runner.stop().catch(() => undefined);
    if (utils) await Promise.resolve(utils.release()).catch(() => undefined);
    if (monitorOpen) await monitor.end().catch(() => undefined);
    await dropSchema(connectionString, schema);
  }
}

// =============================================================================
// pg-boss
// =============================================================================

export async function benchPgBoss(o: PeerOptions & PgBossExtraOptions): Promise<PeerResult> {
  assertOptions(o);
  const PgBoss: typeof PgBossType = (await import('pg-boss')).default;
  const { connectionString, schema, jobs, concurrency } = o;
  const batchSize = o.batchSize ?? PGBOSS_DEFAULT_BATCH_SIZE;
  const pollingIntervalSeconds = o.pollingIntervalSeconds ?? PGBOSS_DEFAULT_POLL_S;
  const drain = o.drain === true;
  const mode =
    `batchSize=${batchSize},pollingIntervalSeconds=${pollingIntervalSeconds},workers=${concurrency}` +
    (drain ? ',drain(notifyWorker)' : '');

  await dropSchema(connectionString, schema);
  const errors: unknown[] = [];
  const boss = new PgBoss({ connectionString, schema });
  boss.on('error', (e) => errors.push(e));
  let started = false;
  const monitor = new pg.Client({ connectionString });
  let monitorOpen = false;
  try {
    // 1. install schema (start() migrates) and create the queue
    await boss.start();
    started = true;
    await boss.createQueue(PGBOSS_QUEUE);
    await monitor.connect();
    monitorOpen = true;

    // 2. bulk enqueue: one insert() = one multi-row INSERT from a JSON array
    const t0 = performance.now();
    await boss.insert(Array.from({ length: jobs }, () => ({ name: PGBOSS_QUEUE, data: {} })));
    const createMs = performance.now() - t0;

    const pending = `select count(*)::int as n from "${schema}".job
                      where name = '${PGBOSS_QUEUE}' and state in ('created', 'retry', 'active')`;
    const { rows: pre } = await monitor.query<{ n: number }>(pending);
    if (pre[0].n !== jobs) throw new Error(`pg-boss: expected ${jobs} queued jobs, found ${pre[0].n}`);
    if (o.analyze !== false) await analyzeSchema(monitor, schema);

    // 3. N workers (pg-boss 10.3.2 has no localConcurrency: call work() N times)
    const counter = makeCounter(jobs);
    const workerIds: string[] = [];
    const makeHandler = (i: number) => async (batch: PgBossType.Job<object>[]) => {
      counter.add(batch.length);
      if (drain && batch.length === batchSize && workerIds[i] !== undefined) boss.notifyWorker(workerIds[i]);
    };
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    const cpu = startCpuMeter();
    const tStart = performance.now();
    for (let i = 0; i < concurrency; i++) {
      workerIds[i] = await boss.work(PGBOSS_QUEUE, { batchSize, pollingIntervalSeconds }, makeHandler(i));
    }
    await withTimeout(counter.done, RUN_TIMEOUT_MS, () => `pg-boss handler saw ${counter.count}/${jobs}`);
    // complete() is fire-and-forget in pg-boss 10: wait for the DB to agree
    await waitUntilZero(monitor, pending, deadline, 'pg-boss created/retry/active jobs to drain');
    const runMs = performance.now() - tStart;
    const cpuPerJob = cpu(jobs);

    const { rows: done } = await monitor.query<{ n: number }>(
      `select (select count(*) from "${schema}".job where name = '${PGBOSS_QUEUE}' and state = 'completed')
            + (select count(*) from "${schema}".archive where name = '${PGBOSS_QUEUE}' and state = 'completed') as n`,
    );
    if (Number(done[0].n) !== jobs) throw new Error(`pg-boss: ${done[0].n} of ${jobs} jobs completed`);
    if (counter.count !== jobs) throw new Error(`pg-boss: handler saw ${counter.count} jobs for ${jobs}`);
    if (errors.length) throw new Error(`pg-boss reported ${errors.length} error(s): ${String(errors[0])}`);
    return result('pg-boss', mode, o, createMs, runMs, cpuPerJob);
  } finally {
    if (started) {
      await boss.offWork(PGBOSS_QUEUE).catch(() => undefined);
      await boss.stop({ graceful: true, wait: true, timeout: 5_000 }).catch(() => undefined);
    }
    if (monitorOpen) await monitor.end().catch(() => undefined);
    await dropSchema(connectionString, schema);
  }
}

// =============================================================================
// availability
// =============================================================================

const PEERS = ['graphile-worker', 'pg-boss'] as const;

/** Names of the peers whose package can be loaded (dynamic import). */
export async function peerAvailability(): Promise<string[]> {
  const loaded: string[] = [];
  for (const name of PEERS) {
    try {
      await import(name);
      loaded.push(name);
    } catch {
      // missing: the runner reports it
    }
  }
  return loaded;
}

/** Installed versions of the peers that are present, e.g. { 'pg-boss': '10.3.2' }. */
export async function peerVersions(): Promise<Record<string, string>> {
  const require = createRequire(import.meta.url);
  const out: Record<string, string> = {};
  for (const name of PEERS) {
    try {
      out[name] = (require(`${name}/package.json`) as { version: string }).version;
    } catch {
      // not installed, or package.json not exported
    }
  }
  return out;
}
