/**
 * Try the peer half of the queue benchmark on its own:
 *
 *   npx tsx scripts/bench/queue/peers-main.ts [--jobs 20000] [--pgboss-batch 500]
 *       [--pgboss-drain] [--no-analyze] [--only graphile|pgboss] [--connection postgres://...]
 *
 * Runs graphile-worker (default and batched, c=1 and c=4) and pg-boss (c=1 and
 * c=4), one after another on the same database, and prints a table.
 * --pgboss-drain adds two non-default pg-boss rows (drain via notifyWorker, see
 * peers.ts). --no-analyze skips the untimed ANALYZE after the bulk enqueue.
 * The connection string defaults to $DATABASE_URL, then to
 * postgres://postgres@127.0.0.1:5432/test.
 */
import { parseArgs } from 'node:util';
import {
  benchGraphileWorker,
  benchPgBoss,
  peerAvailability,
  peerVersions,
  PGBOSS_DEFAULT_BATCH_SIZE,
  type PeerResult,
} from './peers.js';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    'pgboss-batch': { type: 'string', default: String(PGBOSS_DEFAULT_BATCH_SIZE) },
    'pgboss-drain': { type: 'boolean', default: false },
    'no-analyze': { type: 'boolean', default: false },
    only: { type: 'string' },
    connection: { type: 'string' },
  },
});

const jobs = Number(values.jobs);
if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs must be a positive integer (got ${values.jobs})`);
const pgbossBatch = Number(values['pgboss-batch']);
if (!Number.isInteger(pgbossBatch) || pgbossBatch < 1) throw new Error(`--pgboss-batch must be a positive integer`);
const connectionString =
  values.connection ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const analyze = !values['no-analyze'];
const schemaName = (tag: string) => `bench_peer_${tag}_${process.pid}_${Date.now().toString(36)}`;

interface Config {
  label: string;
  peer: 'graphile-worker' | 'pg-boss';
  run: () => Promise<PeerResult>;
}

const configs: Config[] = [];
for (const batched of [false, true]) {
  for (const concurrency of [1, 4]) {
    configs.push({
      label: `graphile-worker ${batched ? 'batched' : 'default'} c=${concurrency}`,
      peer: 'graphile-worker',
      run: () =>
        benchGraphileWorker({
          connectionString,
          jobs,
          concurrency,
          batched,
          analyze,
          schema: schemaName(`gw${batched ? 'b' : 'd'}${concurrency}`),
        }),
    });
  }
}
for (const drain of values['pgboss-drain'] ? [false, true] : [false]) {
  for (const concurrency of [1, 4]) {
    configs.push({
      label: `pg-boss${drain ? ' drain' : ''} c=${concurrency}`,
      peer: 'pg-boss',
      run: () =>
        benchPgBoss({
          connectionString,
          jobs,
          concurrency,
          batchSize: pgbossBatch,
          drain,
          analyze,
          schema: schemaName(`pgb${drain ? 'd' : ''}${concurrency}`),
        }),
    });
  }
}

const available = new Set(await peerAvailability());
const versions = await peerVersions();
console.log(
  `peers: ${['graphile-worker', 'pg-boss']
    .map((p) => (available.has(p) ? `${p}@${versions[p] ?? '?'}` : `${p} (MISSING)`))
    .join(', ')}; jobs=${jobs}`,
);

const only = values.only?.toLowerCase();
const rows: (PeerResult | { peer: string; mode: string; concurrency: number; error: string })[] = [];
for (const c of configs) {
  if (only === 'graphile' && c.peer !== 'graphile-worker') continue;
  if (only === 'pgboss' && c.peer !== 'pg-boss') continue;
  if (!available.has(c.peer)) {
    console.log(`skip ${c.label}: ${c.peer} not installed`);
    continue;
  }
  process.stdout.write(`${c.label} ... `);
  try {
    const r = await c.run();
    console.log(`${r.jobsPerSec} jobs/s`);
    rows.push(r);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    console.log(`FAILED: ${msg}`);
    rows.push({ peer: c.peer, mode: c.label, concurrency: 0, error: msg });
  }
}

const header = ['peer', 'mode', 'conc', 'jobs', 'enqueue ms', 'enqueue jobs/s', 'run ms', 'jobs/s'];
const table = rows.map((r) =>
  'error' in r
    ? [r.peer, r.mode, '', '', '', '', '', `ERROR: ${r.error}`]
    : [
        r.peer,
        r.mode,
        String(r.concurrency),
        String(r.jobs),
        r.createMs.toFixed(0),
        (r.jobs / (r.createMs / 1000)).toFixed(0),
        r.runMs.toFixed(0),
        r.jobsPerSec.toFixed(0),
      ],
);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const fmt = (row: string[]) =>
  row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
console.log();
console.log(fmt(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const row of table) console.log(fmt(row));
if (rows.some((r) => 'error' in r)) process.exitCode = 1;
