import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Db } from '../../core/db.js';
import { openDb } from '../../server/db.js';
import { pg, testDialect, testEnv, type TestEnv } from '../helpers/env.js';
import { overlaps, readRuns, serverEnv, type Run } from '../helpers/runs.js';
import { killChildren, readLog, serveDpc, until, type Served } from '../helpers/server.js';
import { TcpProxy } from '../helpers/tcpProxy.js';

/**
 * A stall or a partition never fails work, nor runs a job twice at once (ARCHITECTURE §3).
 * Two servers on one PostgreSQL run a fan-out of long-ish jobs, each execution recorded in an
 * append-only file outside the database; one server is cut off from the database, or frozen
 * with SIGSTOP, for longer than the job lease. It stops its own runs before their leases
 * lapse (pfs.leaseLossShare), records nothing for them, and the other runs them again; when it
 * is back it takes back the hand-backs its lapsed leases were counted, and claims again.
 */
const LEASE_MS = 3000;
const JOBS = 40;
const SLEEP_MS = 1500;
const common = {
  DPC_RMS__JOBLEASEMS: String(LEASE_MS),
  DPC_RMS__REAPERMS: '200',
  DPC_SMAS__LEASEMS: '1500',
  DPC_SMAS__HEALTHINTERVALMS: '500',
  DPC_DB__CONNECTTIMEOUTMS: '1000',
  DPC_PFS__POLLMS: '20',
  DPC_PFS__LOCAL__THREADS: '2',
  DPC_PFS__LOCAL__BATCHESPERTHREAD: '4',
};

let t: TestEnv;
let db: Db | undefined;
let proxy: TcpProxy | undefined;

beforeEach(async () => {
  t = await testEnv(common);
  db = await openDb(t.config);
});
afterEach(async () => {
  await killChildren();
  await proxy?.cut();
  proxy = undefined;
  await db?.knex.destroy();
  db = undefined;
  await t.cleanup();
});

interface Job {
  id: number;
  status: string;
  claimed_by: string;
  handbacks: number;
  attempts: number;
  result: string | null;
}

const pidOf = (processid: string | null | undefined) => Number(processid?.split(':').at(-2));

/** Starts the fan-out on `server`: its id. */
async function startFan(server: Served, file: string): Promise<number> {
  const res = await server.api(`${server.url}api/rms/workflows`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'killfan', params: { file, n: JOBS, sleepMs: SLEEP_MS }, reason: 'partition test' }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: number }).id;
}

/**
 * Waits until `server` runs jobs of the workflow, RUNNING in the database and begun in the
 * file (a thread's first job loads its task's module first): the moment to cut it off.
 */
async function runningIn(server: Served, workflowid: number, file: string): Promise<Job[]> {
  let running: Job[] = [];
  await until(
    async () => {
      const runs = readRuns(file);
      running = ((await db!.knex('rms_job').where({ workflowid, status: 'RUNNING' }).select('id', 'claimed_by')) as Job[]).filter(
        (j) => pidOf(j.claimed_by) === server.child.pid && runs.get(Number(j.id))?.some((r) => r.pid === server.child.pid && r.end === undefined),
      );
      return running.length >= 2;
    },
    30_000,
    `jobs RUNNING in server ${server.child.pid}`,
  );
  return running;
}

async function endOf(server: Served, workflowid: number): Promise<string> {
  let status = '';
  await until(
    async () => {
      status = ((await (await server.api(`${server.url}api/rms/workflows/${workflowid}`)).json()) as { status: string }).status;
      return status === 'SUCCESS' || status === 'FAILED';
    },
    120_000,
    'the workflow at its end',
  );
  return status;
}

/** Every job SUCCESS, at its first attempt, no hand-back left counted, and no two runs of a job at once. */
async function expectAllDone(workflowid: number, file: string): Promise<{ jobs: Job[]; runs: Map<number, Run[]> }> {
  const select = async () => (await db!.knex('rms_job').where({ workflowid }).select('id', 'status', 'claimed_by', 'handbacks', 'attempts', 'result')) as Job[];
  // The cut-off server takes back the hand-backs of its lapsed leases two leases after its trouble, when the reaper has handed them back.
  await until(async () => (await select()).every((j) => Number(j.handbacks) === 0), 4 * LEASE_MS, 'every hand-back taken back').catch(() => undefined);
  const jobs = await select();
  const notDone = jobs.filter((j) => j.status !== 'SUCCESS');
  expect(notDone, `jobs not SUCCESS: ${JSON.stringify(notDone)}`).toEqual([]);
  expect(jobs).toHaveLength(JOBS + 1);
  for (const j of jobs) {
    expect(Number(j.attempts), `job ${j.id}`).toBe(1);
    expect(Number(j.handbacks), `job ${j.id}: a hand-back from a live process counts no hand-back`).toBe(0);
  }
  const runs = readRuns(file);
  expect(runs.size).toBe(JOBS);
  return { jobs, runs };
}

describe.skipIf(testDialect !== 'postgresql')('a stalled or cut-off server on one PostgreSQL with another', () => {
  test('a server cut off from the database for longer than the job lease stops its runs before their leases lapse: no job runs twice at once, every job SUCCESS', { timeout: 180_000 }, async () => {
    proxy = new TcpProxy({ host: pg.host, port: pg.port });
    await proxy.open();
    const file = join(t.dir, 'executions.txt');
    const a = await serveDpc(serverEnv(t, 1, 'test/fixtures/kill-workflows.ts', { DPC_DB__POSTGRESQL__PORT: String(proxy.port) }));
    const b = await serveDpc(serverEnv(t, 2, 'test/fixtures/kill-workflows.ts'));
    const workflowid = await startFan(b, file);
    const running = await runningIn(a, workflowid, file);

    await proxy.cut();
    const cutAt = Date.now();
    // Longer than the lease: the other server hands the jobs back and runs them.
    await until(async () => Number(((await db!.knex('rms_job').whereIn('id', running.map((j) => j.id)).whereNot('claimed_by', running[0].claimed_by).count({ n: '*' })) as { n: string }[])[0].n) > 0, 20_000, 'the cut-off server\'s jobs claimed by the other');
    await new Promise((r) => setTimeout(r, Math.max(0, cutAt + LEASE_MS + 1500 - Date.now())));
    await proxy.open();

    expect(await endOf(b, workflowid)).toBe('SUCCESS');
    const end = Date.now();
    const { jobs, runs } = await expectAllDone(workflowid, file);
    expect(overlaps(runs, end), 'two runs of a job at once').toEqual([]);
    // The runs it had when it was cut off were stopped (or ended first, and could not be recorded) before their leases lapsed, and run again by the other.
    const stopped = running.map((j) => runs.get(Number(j.id))!.find((r) => r.pid === a.child.pid)!);
    for (const r of stopped) {
      expect(r.end, `job ${r.jobid}'s run in the cut-off server stopped or ended`).toBeDefined();
      expect(r.end! - cutAt).toBeLessThan(LEASE_MS);
      expect(pidOf(jobs.find((j) => Number(j.id) === r.jobid)!.claimed_by), `job ${r.jobid} recorded by the other server`).toBe(b.child.pid);
    }
    // Back on the database, it claims again (it may find no job left to run).
    expect(readLog(join(t.dir, 'log-1', 'dpc.log')).some((l) => /job leases renewed again, .* claiming again/.test(l.message)), 'the cut-off server says it claims again').toBe(true);
    console.log(`partition: ${stopped.length} runs stopped ${Math.max(...stopped.map((r) => r.end! - cutAt))} ms after the cut at most (lease ${LEASE_MS} ms)`);
  });

  test('a server frozen with SIGSTOP for several leases stops its runs at once on waking and records nothing for them: every job SUCCESS', { timeout: 180_000 }, async () => {
    const file = join(t.dir, 'executions.txt');
    const a = await serveDpc(serverEnv(t, 1, 'test/fixtures/kill-workflows.ts'));
    const b = await serveDpc(serverEnv(t, 2, 'test/fixtures/kill-workflows.ts'));
    const workflowid = await startFan(b, file);
    const running = await runningIn(a, workflowid, file);

    a.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    await new Promise((r) => setTimeout(r, 3 * LEASE_MS));
    a.child.kill('SIGCONT');
    const wokeAt = Date.now();

    expect(await endOf(b, workflowid)).toBe('SUCCESS');
    const { jobs, runs } = await expectAllDone(workflowid, file);
    const frozen = running.map((j) => runs.get(Number(j.id))!.find((r) => r.pid === a.child.pid && r.start < stoppedAt)!);
    for (const r of frozen) {
      // Woken, a frozen run may go on for an instant; it is stopped at once (or ends first), and what it did is not recorded.
      expect(r.end, `job ${r.jobid}'s frozen run ended or stopped`).toBeDefined();
      if (r.end! > stoppedAt) expect(r.end! - wokeAt, `job ${r.jobid}'s frozen run went on after waking`).toBeLessThan(1000);
      expect(pidOf(jobs.find((j) => Number(j.id) === r.jobid)!.claimed_by), `job ${r.jobid} recorded by the other server`).toBe(b.child.pid);
    }
    // Apart from the frozen runs, which overlap the other server's, no job ran twice at once.
    const others = new Map([...runs].map(([id, list]) => [id, list.filter((r) => !frozen.includes(r))]));
    expect(overlaps(others, Date.now())).toEqual([]);
    const lastStart = Math.max(...[...runs.values()].flat().filter((r) => r.pid === a.child.pid).map((r) => r.start));
    console.log(`stall: ${frozen.length} frozen runs, over ${Math.max(...frozen.map((r) => r.end! - wokeAt))} ms after waking at most (${frozen.map((r) => r.how).join(', ')}); the woken server ${lastStart > wokeAt ? 'claimed again' : 'claimed nothing more'}`);
  });
});
