/**
 * The queue benchmark (issue 4): no-op jobs through DPC's whole path (enqueue, claim,
 * dispatch to a worker thread, complete, workflow bookkeeping) on SQLite and PostgreSQL,
 * beside graphile-worker (default and batched) and pg-boss on the same PostgreSQL, in the
 * same run, at 1 and 4 worker concurrency. Prints jobs/s side by side.
 *
 *   npm run bench:queue -- [--jobs 20000]
 */
import { parseArgs } from 'node:util';
import { benchDpc } from './dpc.js';
import { benchGraphileWorker, benchPgBoss, peerVersions, type PeerResult } from './peers.js';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '20000' } } });
const jobs = Number(values.jobs);
if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs must be a positive whole number; got ${values.jobs}`);
const connectionString = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = (tag: string) => `bench_${tag}_${process.pid}`;

const results: PeerResult[] = [];
const run = async (label: string, f: () => Promise<PeerResult>) => {
  process.stderr.write(`${label} …\n`);
  results.push(await f());
};

for (const concurrency of [1, 4]) {
  for (const client of ['sqlite', 'postgresql'] as const) {
    for (const logLines of [false, true]) {
      const tag = `dpc${client === 'sqlite' ? 's' : 'p'}${logLines ? 'l' : ''}${concurrency}`;
      await run(`DPC ${client} c=${concurrency}${logLines ? ' log lines' : ''}`, () => benchDpc({ client, schema: schema(tag), jobs, concurrency, logLines }));
    }
  }
  for (const batched of [false, true]) {
    await run(`graphile-worker ${batched ? 'batched' : 'default'} c=${concurrency}`, () => benchGraphileWorker({ connectionString, jobs, concurrency, batched, schema: schema(`gw${concurrency}`) }));
  }
  await run(`pg-boss c=${concurrency}`, () => benchPgBoss({ connectionString, jobs, concurrency, schema: schema(`boss${concurrency}`) }));
}

const versions = await peerVersions();
process.stdout.write(`\n${jobs} no-op jobs per run; 2 cores; ${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ')}\n\n`);
process.stdout.write(`${'queue'.padEnd(26)} ${'mode'.padEnd(44)} ${'c'.padStart(2)} ${'enqueue ms'.padStart(11)} ${'run ms'.padStart(8)} ${'jobs/s'.padStart(8)} ${'CPU µs/job: process'.padStart(20)} ${'PostgreSQL'.padStart(10)}\n`);
for (const r of results) {
  process.stdout.write(
    `${r.peer.padEnd(26)} ${r.mode.slice(0, 44).padEnd(44)} ${String(r.concurrency).padStart(2)} ${String(r.enqueueMs).padStart(11)} ${String(r.runMs).padStart(8)} ${String(r.jobsPerSec).padStart(8)} ${String(r.cpu.process).padStart(20)} ${String(r.cpu.postgres ?? '–').padStart(10)}\n`,
  );
}
process.stdout.write('\nCPU per job during the run: of this process (all its threads), and of every PostgreSQL process on this machine.\n');
