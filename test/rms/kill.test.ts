import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Db } from '../../core/db.js';
import { openDb } from '../../server/db.js';
import { testEnv, type TestEnv } from '../helpers/env.js';
import { describeJobs } from '../helpers/jobs.js';
import { serverEnv } from '../helpers/runs.js';
import { killChildren, serveDpc, until } from '../helpers/server.js';

/**
 * The acceptance of the durable job queue (ARCHITECTURE §3): a workflow of 1 000 jobs, its
 * process killed with SIGKILL while jobs are CLAIMED or RUNNING and started again, one kill
 * fewer than rms.maxHandbacks at its default (5): a job in flight at every kill is handed back
 * each time and still runs. Each execution is recorded outside the database (an append-only
 * file). In the end every job ran to SUCCESS, none was lost, and a job ran more than once only
 * where at-least-once allows it: it was in flight in a process that was killed, or a live
 * process stopped it (its leases not renewed in time on a loaded machine).
 */
const JOBS = 1000;
const KILLS = 4;
const THREADS = 2;
const BATCHES_PER_THREAD = 8;
/**
 * How many jobs one process runs at once (it claims no more than its free places): jobs of
 * 30 ms go to a thread one at a time, so threads × batchesPerThread. It may hold a few more in the
 * database: jobs that ended but whose SUCCESS waits for the next write (pfs.flushMs).
 */
const CAPACITY = THREADS * BATCHES_PER_THREAD;
const HELD_MAX = 2 * CAPACITY;

let t: TestEnv;
let db: Db;
let file: string;
let env: Record<string, string>;

beforeAll(async () => {
  t = await testEnv({
    // Long enough that a live process busy on two cores still renews its leases in time.
    DPC_RMS__JOBLEASEMS: '3000',
    DPC_RMS__REAPERMS: '200',
    DPC_SMAS__LEASEMS: '1500',
    DPC_PFS__POLLMS: '20',
    DPC_EMS__OUTBOX__POLLMS: '100',
    DPC_PFS__LOCAL__THREADS: String(THREADS),
    DPC_PFS__LOCAL__BATCHESPERTHREAD: String(BATCHES_PER_THREAD),
  });
  file = join(t.dir, 'executions.txt');
  // One log directory for every server of the test, the test's own.
  env = serverEnv(t, 1, 'test/fixtures/kill-workflows.ts', { DPC_LOG__DIR: t.env.DPC_LOG__DIR });
  db = await openDb(t.config);
});
afterAll(async () => {
  await killChildren();
  await db?.knex.destroy();
  await t?.cleanup();
});

interface Execution {
  jobid: number;
  pid: number;
  event: 'start' | 'end' | 'stopped';
}

function executions(): Execution[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => /^\d+ \d+ (start|end|stopped) \d+$/.test(l))
    .map((l) => {
      const [jobid, pid, event] = l.split(' ');
      return { jobid: Number(jobid), pid: Number(pid), event: event as Execution['event'] };
    });
}

function groupCounts(keys: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const k of keys) out.set(k, (out.get(k) ?? 0) + 1);
  return out;
}

const inFlight = async () =>
  (await db.knex('rms_job').whereIn('status', ['CLAIMED', 'RUNNING']).select('id', 'status', 'claimed_by')) as { id: number; status: string; claimed_by: string }[];
const succeeded = async () => Number(((await db.knex('rms_job').where({ status: 'SUCCESS' }).count({ n: '*' })) as { n: number | string }[])[0].n);

describe('the job queue across kill -9', () => {
  test(`a workflow of ${JOBS} jobs survives ${KILLS} SIGKILLs while jobs are CLAIMED or RUNNING: every job SUCCESS, none lost, duplicates only of jobs in flight`, { timeout: 240_000 }, async () => {
    const began = Date.now();
    let workflowid = 0;
    /** The jobs the database showed CLAIMED or RUNNING once each killed process was gone. */
    const heldAtKill = new Set<number>();
    const killedPids: number[] = [];
    let lastDone = 0;

    for (let round = 0; round < KILLS; round++) {
      const served = await serveDpc(env);
      const pid = served.child.pid!;
      if (round === 0) {
        const res = await served.api(`${served.url}api/rms/workflows`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'killfan', params: { file, n: JOBS, sleepMs: 30 }, reason: 'kill -9 acceptance' }),
        });
        expect(res.status).toBe(201);
        workflowid = ((await res.json()) as { id: number }).id;
      }
      // Caught in the act: this process holds jobs, and made progress since the last kill.
      let seen: Awaited<ReturnType<typeof inFlight>> = [];
      await until(
        async () => {
          if ((await succeeded()) < lastDone + 40) return false;
          seen = (await inFlight()).filter((j) => j.claimed_by?.split(':')[1] === String(pid));
          return seen.length > 0;
        },
        60_000,
        `round ${round + 1}: progress and jobs CLAIMED or RUNNING in process ${pid}`,
      );
      served.child.kill('SIGKILL');
      const exit = await served.exited;
      expect(exit.signal).toBe('SIGKILL');
      killedPids.push(pid);
      expect(seen.length).toBeGreaterThan(0);
      // The killed process's jobs, frozen until the next process's reaper hands them back: exactly the jobs that may run again.
      const all = await inFlight();
      const left = all.filter((j) => j.claimed_by?.split(':')[1] === String(pid));
      expect(left.length).toBeGreaterThan(0);
      // Each process held no more than its places (a killed one's jobs wait for their lease to lapse).
      for (const held of groupCounts(all.map((j) => j.claimed_by)).values()) expect(held).toBeLessThanOrEqual(HELD_MAX);
      for (const j of left) heldAtKill.add(Number(j.id));
      lastDone = await succeeded();
      expect(lastDone).toBeLessThan(JOBS);
    }

    // The last process runs the rest to the end.
    const last = await serveDpc(env);
    let wf: { status: string; counts: Record<string, number>; steps: { name: string; counts: Record<string, number> }[] } | undefined;
    await until(
      async () => {
        wf = (await (await last.api(`${last.url}api/rms/workflows/${workflowid}`)).json()) as typeof wf;
        return wf?.status === 'SUCCESS' || wf?.status === 'FAILED';
      },
      120_000,
      'the workflow at its end',
    );
    // A failure says how each job that did not succeed ended (scripts/stress/queue-kill.ts collects these lines).
    for (const line of await describeJobs(db, workflowid)) console.log(line);
    expect(wf!.status).toBe('SUCCESS');
    await last.stop();

    // Every job SUCCESS with the result of its own input.
    const jobs = (await db.knex('rms_job').where({ workflowid }).select('id', 'stepid', 'status', 'result', 'handbacks', 'attempts')) as {
      id: number; stepid: number; status: string; result: string | null; handbacks: number; attempts: number;
    }[];
    const steps = (await db.knex('rms_step').where({ workflowid }).select('id', 'name')) as { id: number; name: string }[];
    const fanStep = Number(steps.find((s) => s.name === 'fan')!.id);
    const fan = jobs.filter((j) => Number(j.stepid) === fanStep);
    expect(fan).toHaveLength(JOBS);
    expect(jobs).toHaveLength(JOBS + 1);
    for (const j of jobs) expect(j.status).toBe('SUCCESS');
    for (const j of fan) expect(JSON.parse(j.result!)).toEqual({ double: Number(j.id) * 2 });
    // The reaper handed jobs back without using an attempt.
    expect(fan.filter((j) => Number(j.handbacks) > 0).length).toBeGreaterThan(0);
    for (const j of fan) expect(Number(j.attempts)).toBe(1);

    // The per-step counts say so too.
    for (const s of wf!.steps) {
      const n = s.name === 'fan' ? JOBS : 1;
      expect(s.counts).toMatchObject({ SUCCESS: n, WAITING: 0, READY: 0, CLAIMED: 0, RUNNING: 0, RETRY_WAIT: 0, FAILED: 0, CANCELLED: 0 });
    }
    expect(wf!.counts.SUCCESS).toBe(JOBS + 1);

    // Outside the database: every job ran to its end at least once.
    const runs = executions();
    const ended = new Set(runs.filter((r) => r.event === 'end').map((r) => r.jobid));
    for (const j of fan) expect(ended.has(Number(j.id)), `job ${j.id} ended`).toBe(true);
    expect(new Set(runs.map((r) => r.jobid)).size).toBe(JOBS);

    // At least once, not more: a job started twice was in flight in a killed process, or its
    // live holder stopped it (leases not renewed in time, on a loaded machine).
    const starts = new Map<number, Execution[]>();
    for (const r of runs.filter((r) => r.event === 'start')) starts.set(r.jobid, [...(starts.get(r.jobid) ?? []), r]);
    const stoppedIn = (jobid: number, pid: number) => runs.some((r) => r.jobid === jobid && r.pid === pid && r.event === 'stopped');
    const repeated = [...starts].filter(([, s]) => s.length > 1);
    const stoppedLive = repeated.filter(([jobid]) => !heldAtKill.has(jobid));
    for (const [jobid, s] of repeated) {
      // Each run but the last one was cut short by a kill, finished in a process that was then killed, or was stopped by its live process.
      for (const run of s.slice(0, -1)) expect(killedPids.includes(run.pid) || stoppedIn(jobid, run.pid), `job ${jobid} started ${s.length} times (${JSON.stringify(s)})`).toBe(true);
      expect(s.length).toBeLessThanOrEqual(KILLS + 1);
    }
    expect(repeated.length - stoppedLive.length).toBeLessThanOrEqual(Math.min(heldAtKill.size, KILLS * HELD_MAX));
    // A start without its end only in a killed process, or stopped by its own.
    for (const [jobid, s] of starts) {
      for (const run of s) {
        const endedHere = runs.some((r) => r.jobid === jobid && r.pid === run.pid && r.event === 'end');
        if (!endedHere) expect(killedPids.includes(run.pid) || stoppedIn(jobid, run.pid), `job ${jobid} in ${run.pid} neither ended nor was stopped`).toBe(true);
      }
    }
    console.log(`kill -9 test: ${KILLS} kills, ${heldAtKill.size} jobs in flight at a kill, ${repeated.length} run again (${stoppedLive.length} stopped by a live process), ${runs.length} lines, ${((Date.now() - began) / 1000).toFixed(1)} s`);
  });
});
