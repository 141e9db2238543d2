/**
 * The queue benchmark (issue 4): no-op jobs through DPC's whole path (enqueue, claim,
 * dispatch to a worker thread, complete, workflow bookkeeping) on SQLite and PostgreSQL,
 * beside graphile-worker (default and batched) and pg-boss on the same PostgreSQL, in the
 * same run, at 1 and 4 worker concurrency. Prints jobs/s side by side.
 *
 * Each case first runs a few jobs untimed, so that every side is measured with its code
 * compiled by the JIT, as in a server that has been up a while. Each DPC run starts a server
 * whose worker threads are new isolates with nothing compiled: it first runs 5 000 jobs
 * through them, untimed, on the same server. Then the cases run in
 * rounds, one after the other, so that a machine that slows down or speeds up meanwhile
 * does so for all sides; each case's figure is its median round.
 *
 *   npm run bench:queue -- [--jobs 20000] [--rounds 3]
 */
import { parseArgs } from 'node:util';
import { benchDpc } from './dpc.js';
import { benchGraphileWorker, benchPgBoss, peerVersions, type PeerResult } from './peers.js';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '3' } } });
const whole = (name: string, text: string) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive whole number; got ${text}`);
  return n;
};
const jobs = whole('jobs', values.jobs);
const rounds = whole('rounds', values.rounds);
const warmupJobs = Math.min(jobs, 2000);
// DPC's worker threads are new in each run, and compile their code anew: each run warms them up first, untimed.
const threadWarmupJobs = Math.min(jobs, 5000);
const connectionString = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = (tag: string) => `bench_${tag}_${process.pid}`;

interface Case {
  label: string;
  run: (jobs: number) => Promise<PeerResult>;
}

const cases: Case[] = [];
for (const concurrency of [1, 4]) {
  for (const client of ['sqlite', 'postgresql'] as const) {
    // Log lines per job: none, one (with the configured fsync policy, and without fsync, which prices it), a hundred.
    for (const [logLines, fsync] of [[0], [1], [1, 'none'], [100]] as [number, 'none'?][]) {
      const tag = `dpc${client === 'sqlite' ? 's' : 'p'}l${logLines}${fsync ?? ''}${concurrency}`;
      cases.push({
        label: `DPC ${client} c=${concurrency} ${logLines} log line(s)${fsync ? ` fsync ${fsync}` : ''}`,
        run: (n) => benchDpc({ client, schema: schema(tag), jobs: n, concurrency, logLines, fsync, warmupJobs: threadWarmupJobs }),
      });
    }
  }
  for (const batched of [false, true]) {
    cases.push({
      label: `graphile-worker ${batched ? 'batched' : 'default'} c=${concurrency}`,
      run: (n) => benchGraphileWorker({ connectionString, jobs: n, concurrency, batched, schema: schema(`gw${concurrency}`) }),
    });
  }
  cases.push({ label: `pg-boss c=${concurrency}`, run: (n) => benchPgBoss({ connectionString, jobs: n, concurrency, schema: schema(`boss${concurrency}`) }) });
}

for (const c of cases) {
  process.stderr.write(`warm-up: ${c.label} …\n`);
  await c.run(warmupJobs);
}
const runs = new Map<Case, PeerResult[]>(cases.map((c) => [c, []]));
for (let round = 1; round <= rounds; round++) {
  for (const c of cases) {
    process.stderr.write(`round ${round}/${rounds}: ${c.label} …\n`);
    runs.get(c)!.push(await c.run(jobs));
  }
}
/** A case's median round, with the lowest and highest rates of all its rounds. */
const results = cases.map((c) => {
  const sorted = [...runs.get(c)!].sort((a, b) => a.jobsPerSec - b.jobsPerSec);
  return { ...sorted[Math.floor((sorted.length - 1) / 2)], low: sorted[0].jobsPerSec, high: sorted[sorted.length - 1].jobsPerSec };
});

const versions = await peerVersions();
process.stdout.write(`\n${jobs} no-op jobs per run, median of ${rounds} round(s) after a warm-up of ${warmupJobs}; 2 cores; ${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ')}\n\n`);
process.stdout.write(`${'queue'.padEnd(26)} ${'mode'.padEnd(44)} ${'c'.padStart(2)} ${'enqueue ms'.padStart(11)} ${'run ms'.padStart(8)} ${'jobs/s'.padStart(8)} ${'low–high'.padStart(13)} ${'CPU µs/job: process'.padStart(20)} ${'PostgreSQL'.padStart(10)}\n`);
for (const r of results) {
  process.stdout.write(
    `${r.peer.padEnd(26)} ${r.mode.slice(0, 44).padEnd(44)} ${String(r.concurrency).padStart(2)} ${String(r.enqueueMs).padStart(11)} ${String(r.runMs).padStart(8)} ${String(Math.round(r.jobsPerSec)).padStart(8)} ${`${Math.round(r.low)}–${Math.round(r.high)}`.padStart(13)} ${String(r.cpu.process).padStart(20)} ${String(r.cpu.postgres ?? '–').padStart(10)}\n`,
  );
}
process.stdout.write('\nCPU per job during the run: of this process (all its threads), and of every PostgreSQL process on this machine.\n');
