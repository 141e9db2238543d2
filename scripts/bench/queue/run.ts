/**
 * The queue benchmark (issues 4 and 12): no-op jobs through DPC's whole path (create,
 * claim, dispatch to a worker thread, complete, workflow bookkeeping) on SQLite and
 * PostgreSQL, beside graphile-worker (default and batched) and pg-boss on the same
 * PostgreSQL, in the same run, at 1 and 4 worker concurrency. Prints, for every side, the
 * create rate (jobs made before the workers start: DPC's workflows, graphile-worker's
 * addJobs, pg-boss's insert), the run rate (from the workers' start to the last job's end)
 * and the end-to-end rate (jobs / (create + run)); then the claims of another workflow
 * while a backfill is being created.
 *
 * Each case first runs a few jobs untimed, so that every side is measured with its code
 * compiled by the JIT, as in a server that has been up a while. Each DPC run starts a server
 * whose worker threads are new isolates with nothing compiled: it first runs 5 000 jobs
 * through them, untimed, on the same server. Then the cases run in
 * rounds, one after the other, so that a machine that slows down or speeds up meanwhile
 * does so for all sides; each case's figure is its median round (by end-to-end rate).
 *
 *   npm run bench:queue -- [--jobs 20000] [--rounds 3] [--backfill-days 100] [--backfill-jobs 10000] [--json FILE]
 *
 * --backfill-days 0 leaves the backfill out. --json FILE writes every case's figures.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { benchBackfillClaims, benchDpc, type BackfillClaims } from './dpc.js';
import { benchGraphileWorker, benchPgBoss, peerVersions, type PeerResult } from './peers.js';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    'backfill-days': { type: 'string', default: '100' },
    'backfill-jobs': { type: 'string', default: '10000' },
    json: { type: 'string' },
  },
});
const whole = (name: string, text: string, least = 1) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < least) throw new Error(`--${name} must be a whole number of at least ${least}; got ${text}`);
  return n;
};
const jobs = whole('jobs', values.jobs);
const rounds = whole('rounds', values.rounds);
const backfillDays = whole('backfill-days', values['backfill-days'], 0);
const backfillJobs = whole('backfill-jobs', values['backfill-jobs']);
const warmupJobs = Math.min(jobs, 2000);
// DPC's worker threads are new in each run, and compile their code anew: each run warms them up first, untimed.
const threadWarmupJobs = Math.min(jobs, 5000);
const connectionString = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = (tag: string) => `bench_${tag}_${process.pid}`;

/** What a case is: the dimensions a comparison by script groups by. */
interface Case {
  side: string;
  mode: string;
  database: 'sqlite' | 'postgresql';
  concurrency: number;
  logLines: number;
  workflows: number;
  run: (jobs: number) => Promise<PeerResult>;
}

const cases: Case[] = [];
for (const concurrency of [1, 4]) {
  for (const database of ['sqlite', 'postgresql'] as const) {
    const dpc = (logLines: number, workflows: number, fsync?: 'none'): Case => ({
      side: 'DPC',
      mode: `${logLines} log line(s) per job${fsync ? `, fsync ${fsync}` : ''}${workflows > 1 ? `, ${workflows} workflows` : ''}`,
      database,
      concurrency,
      logLines,
      workflows,
      run: (n) => benchDpc({ client: database, schema: schema(`dpc${database[0]}${logLines}${fsync ?? ''}w${workflows}c${concurrency}`), jobs: n, concurrency, logLines, fsync, workflows, warmupJobs: threadWarmupJobs }),
    });
    // Log lines per job: none, one (with the configured fsync policy, and without fsync, which prices it), a hundred.
    for (const logLines of [0, 1, 100]) cases.push(dpc(logLines, 1));
    cases.push(dpc(1, 1, 'none'));
    // Ten workflows at once: what sharing the pool between workflows costs the claim.
    cases.push(dpc(0, 10));
  }
  for (const batched of [false, true]) {
    cases.push({
      side: `graphile-worker ${batched ? 'batched' : 'default'}`,
      mode: batched ? 'addJobs; localQueue 500, completeJobBatchDelay 0' : 'addJobs',
      database: 'postgresql',
      concurrency,
      logLines: 0,
      workflows: 1,
      run: (n) => benchGraphileWorker({ connectionString, jobs: n, concurrency, batched, schema: schema(`gw${concurrency}`) }),
    });
  }
  cases.push({
    side: 'pg-boss',
    mode: 'insert; batchSize 500, poll 0.5 s',
    database: 'postgresql',
    concurrency,
    logLines: 0,
    workflows: 1,
    run: (n) => benchPgBoss({ connectionString, jobs: n, concurrency, schema: schema(`boss${concurrency}`) }),
  });
}

for (const c of cases) {
  process.stderr.write(`warm-up: ${label(c)} …\n`);
  await c.run(warmupJobs);
}
const runs = new Map<Case, PeerResult[]>(cases.map((c) => [c, []]));
for (let round = 1; round <= rounds; round++) {
  for (const c of cases) {
    process.stderr.write(`round ${round}/${rounds}: ${label(c)} …\n`);
    runs.get(c)!.push(await c.run(jobs));
  }
}

const rate = (n: number, ms: number) => Math.round(n / (ms / 1000));
const endToEnd = (r: PeerResult) => rate(r.jobs, r.createMs + r.runMs);
/** A case's median round by end-to-end rate, with the range of each rate over its rounds. */
const results = cases.map((c) => {
  const all = runs.get(c)!;
  const sorted = [...all].sort((a, b) => endToEnd(a) - endToEnd(b));
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  const range = (f: (r: PeerResult) => number) => ({ low: Math.min(...all.map(f)), high: Math.max(...all.map(f)) });
  return {
    c,
    median,
    create: range((r) => rate(r.jobs, r.createMs)),
    run: range((r) => rate(r.jobs, r.runMs)),
    endToEnd: range(endToEnd),
    rounds: all.map((r) => ({ createMs: r.createMs, runMs: r.runMs })),
  };
});

const backfills: BackfillClaims[] = [];
if (backfillDays > 0) {
  for (const database of ['sqlite', 'postgresql'] as const) {
    process.stderr.write(`backfill of ${backfillDays} × ${backfillJobs} jobs on ${database}, claims of another workflow meanwhile …\n`);
    backfills.push(await benchBackfillClaims({ client: database, schema: schema(`bf${database[0]}`), days: backfillDays, jobsPerDay: backfillJobs, otherJobs: 100_000 }));
  }
}

const versions = await peerVersions();
const out = (s: string) => process.stdout.write(s);
const span = (r: { low: number; high: number }) => `${r.low}–${r.high}`;
out(`\n${jobs} no-op jobs per run, median of ${rounds} round(s) by end-to-end rate, after a warm-up of ${warmupJobs}; ${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
out('create: jobs made before the workers start; run: from their start to the last job\'s end; end to end: jobs / (create + run). Rates in jobs/s, low–high over the rounds.\n\n');
out(`${'side'.padEnd(24)} ${'database'.padEnd(10)} ${'c'.padStart(2)} ${'log'.padStart(3)} ${'wf'.padStart(3)} ${'create ms'.padStart(9)} ${'run ms'.padStart(8)} ${'create/s'.padStart(9)} ${'run/s'.padStart(8)} ${'end-to-end/s'.padStart(12)} ${'end-to-end low–high'.padStart(20)} ${'CPU µs/job'.padStart(10)} ${'PostgreSQL'.padStart(10)}  mode\n`);
for (const r of results) {
  const m = r.median;
  out(
    `${r.c.side.padEnd(24)} ${r.c.database.padEnd(10)} ${String(r.c.concurrency).padStart(2)} ${String(r.c.logLines).padStart(3)} ${String(r.c.workflows).padStart(3)} ${String(Math.round(m.createMs)).padStart(9)} ${String(Math.round(m.runMs)).padStart(8)} ${String(rate(m.jobs, m.createMs)).padStart(9)} ${String(rate(m.jobs, m.runMs)).padStart(8)} ${String(endToEnd(m)).padStart(12)} ${span(r.endToEnd).padStart(20)} ${String(m.cpu.process).padStart(10)} ${String(m.cpu.postgres ?? '–').padStart(10)}  ${r.c.mode}; ${m.mode}\n`,
  );
}
out('\nCPU per job during the run: of this process (all its threads), and of every PostgreSQL process on this machine.\n');
if (backfills.length > 0) {
  out(`\nA backfill of ${backfillDays} days × ${backfillJobs} jobs created while another workflow's jobs are claimed, 10 per claim:\n`);
  out(`${'database'.padEnd(10)} ${'jobs'.padStart(9)} ${'create ms'.padStart(9)} ${'create/s'.padStart(9)} ${'claims'.padStart(7)} ${'claim p50 ms'.padStart(12)} ${'p99 ms'.padStart(7)} ${'max ms'.padStart(7)}\n`);
  for (const b of backfills) {
    out(`${b.database.padEnd(10)} ${String(b.jobs).padStart(9)} ${String(b.createMs).padStart(9)} ${String(rate(b.jobs, b.createMs)).padStart(9)} ${String(b.claims).padStart(7)} ${String(b.claimMs.p50).padStart(12)} ${String(b.claimMs.p99).padStart(7)} ${String(b.claimMs.max).padStart(7)}\n`);
  }
}

if (values.json) {
  writeFileSync(
    values.json,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        jobs,
        rounds,
        versions,
        cases: results.map((r) => ({
          side: r.c.side,
          mode: r.c.mode,
          database: r.c.database,
          concurrency: r.c.concurrency,
          logLinesPerJob: r.c.logLines,
          workflows: r.c.workflows,
          jobs: r.median.jobs,
          createMs: r.median.createMs,
          runMs: r.median.runMs,
          jobsPerSec: { create: rate(r.median.jobs, r.median.createMs), run: rate(r.median.jobs, r.median.runMs), endToEnd: endToEnd(r.median) },
          ranges: { create: r.create, run: r.run, endToEnd: r.endToEnd },
          cpuUsPerJob: { process: r.median.cpu.process, postgres: r.median.cpu.postgres ?? null },
          rounds: r.rounds,
        })),
        backfills: backfills.map((b) => ({ ...b, createPerSec: rate(b.jobs, b.createMs) })),
      },
      null,
      2,
    )}\n`,
  );
  process.stderr.write(`figures written to ${values.json}\n`);
}

function label(c: Case): string {
  return `${c.side} ${c.database} c=${c.concurrency} ${c.mode}`;
}
