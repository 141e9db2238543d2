import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import winston from 'winston';
import { systemClock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import { openDb } from '../../server/db.js';
import { OutboxBus } from '../../subsystems/ems/bus.js';
import { testDialect, testEnv, type TestEnv } from '../helpers/env.js';
import { describeJobs } from '../helpers/jobs.js';
import { overlaps, readRuns, serverEnv } from '../helpers/runs.js';
import { killChildren, readLog, serveDpc, until, type Served } from '../helpers/server.js';

/**
 * Two DPC processes on one PostgreSQL database (ARCHITECTURE §3): they share the job queue
 * without running a job twice at once, and the once-only duties (cron, the reaper) pass from a
 * process killed with SIGKILL to the other within the lease time. SQLite is one process's
 * database: these run in the PostgreSQL pass (DPC_TEST_DB=postgresql).
 */
const LEASE_MS = 1500;
const common = {
  // Room for the lease margin: pfs.leaseLossShare of it, the time to stop jobs and smas.clockSkewMs (config/schema.ts).
  DPC_RMS__JOBLEASEMS: '3000',
  DPC_RMS__REAPERMS: '200',
  DPC_SMAS__LEASEMS: String(LEASE_MS),
  DPC_PFS__POLLMS: '20',
  DPC_EMS__OUTBOX__POLLMS: '100',
  // A delivery that runs past its claim is claimed again by the other process (at least once):
  // under load a data trigger's transaction took over a second, which doubled an event the
  // test expects once. The in-flight event's claim still lapses well within the waits below.
  DPC_EMS__OUTBOX__CLAIMMS: '3000',
  DPC_PFS__LOCAL__THREADS: '2',
  DPC_PFS__LOCAL__BATCHESPERTHREAD: '8',
};

let t: TestEnv;
let db: Db | undefined;

beforeEach(async () => {
  t = await testEnv(common);
  db = await openDb(t.config);
});
afterEach(async ({ task }) => {
  // A failure says how each job that did not succeed ended (scripts/stress/queue-kill.ts collects these lines).
  if (task.result?.state === 'fail' && db) for (const line of await describeJobs(db)) console.log(line);
  await killChildren();
  await db?.knex.destroy();
  db = undefined;
  await t.cleanup();
});

/** Two servers, one after the other (the first migrates the fresh schema while the second would wait for its lock). */
async function serveTwo(descriptors: string): Promise<[Served, Served]> {
  const first = await serveDpc(serverEnv(t, 1, descriptors));
  return [first, await serveDpc(serverEnv(t, 2, descriptors))];
}

const pidOf = (processid: string | null | undefined) => Number(processid?.split(':').at(-2));

describe.skipIf(testDialect !== 'postgresql')('two server processes on one PostgreSQL', () => {
  test('two server processes on one PostgreSQL never run the same job twice concurrently', { timeout: 120_000 }, async () => {
    const JOBS = 400;
    const file = join(t.dir, 'executions.txt');
    const [a, b] = await serveTwo('test/fixtures/kill-workflows.ts');
    const res = await a.api(`${a.url}api/rms/workflows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'killfan', params: { file, n: JOBS, sleepMs: 40 }, reason: 'two processes' }),
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: number };
    let wf: { status: string; steps: { name: string; counts: Record<string, number> }[] } | undefined;
    await until(
      async () => {
        wf = (await (await b.api(`${b.url}api/rms/workflows/${id}`)).json()) as typeof wf;
        return wf?.status === 'SUCCESS' || wf?.status === 'FAILED';
      },
      90_000,
      'the workflow at its end',
    );
    expect(wf!.status).toBe('SUCCESS');
    expect(wf!.steps.find((s) => s.name === 'fan')!.counts.SUCCESS).toBe(JOBS);

    const jobs = (await db!.knex('rms_job').where({ workflowid: id }).select('id', 'status', 'result', 'handbacks')) as { id: number; status: string; result: string; handbacks: number }[];
    expect(jobs).toHaveLength(JOBS + 1);
    for (const j of jobs) expect(j.status).toBe('SUCCESS');

    // Executions, from the append-only file: [start, end] per job and process.
    const runs = readRuns(file);
    expect(runs.size).toBe(JOBS);
    expect(overlaps(runs, Date.now()), 'two executions of a job at once').toEqual([]);
    // A process that logged it could not renew its leases, or record what ended, in time (a loaded machine).
    const troubled = new Set(
      [a, b]
        .map((s, i) => ({ pid: s.child.pid, lines: readLog(join(t.dir, `log-${i + 1}`, 'dpc.log')) }))
        .filter((s) => s.lines.some((l) => /job leases not renewed|recording job outcomes failed/.test(l.message)))
        .map((s) => s.pid),
    );
    for (const [jobid, list] of runs) {
      for (const r of list) expect(r.end, `job ${jobid} in ${r.pid} ended`).toBeDefined();
      // Neither process died, so each job ran once; again only where at-least-once allows: its
      // process, too busy to renew its leases or record the run in time, stopped it or let it lapse.
      for (const r of list.slice(0, -1)) expect(r.how === 'stopped' || troubled.has(r.pid), `job ${jobid} ran ${list.length} times: ${JSON.stringify(list)}`).toBe(true);
    }
    const byPid = new Map<number, number>();
    for (const list of runs.values()) for (const r of list) byPid.set(r.pid, (byPid.get(r.pid) ?? 0) + 1);
    expect([...byPid.keys()].sort()).toEqual([a.child.pid, b.child.pid].sort());
    for (const n of byPid.values()) expect(n).toBeGreaterThan(0);
    console.log(`two processes: jobs run per process ${JSON.stringify(Object.fromEntries(byPid))}`);
  });

  test('when the lease holder is killed, the other takes over cron and outbox delivery within the lease time; no firing doubled, no event lost, and an event the killed one was delivering is delivered by the other', { timeout: 120_000 }, async () => {
    const servers = await serveTwo('test/fixtures/kill-cron-workflows.ts');
    const knex = db!.knex;
    // DSS does not announce datasets yet: the test publishes them as it will, through EMS's bus
    // (not started here: the servers deliver). RMS's data trigger, a subscriber in the servers,
    // starts a killdata workflow on each and logs a line per call.
    const datasets = new OutboxBus(db!, t.config.ems.outbox, systemClock, winston.createLogger({ silent: true }));
    const publishDataset = async (datasetid: number, solutionid?: number): Promise<number> => {
      await knex.transaction((trx) => datasets.publish(trx, 'dataset.updated', { datasetid, dmtype: 'KillData', ...(solutionid === undefined ? {} : { solutionid }) }));
      const rows = (await knex('ems_outbox').where({ topic: 'dataset.updated' }).select('id', 'payload')) as { id: number; payload: string }[];
      return Number(rows.find((r) => (JSON.parse(r.payload) as { datasetid: number }).datasetid === datasetid)!.id);
    };
    const eventRow = async (id: number) => (await knex('ems_outbox').where({ id }).first('state', 'claim_token', 'delivered')) as { state: string; claim_token: string | null; delivered: number | null };
    const delivered = (id: number) => until(async () => (await eventRow(id)).state === 'DELIVERED', 15_000, `event ${id} DELIVERED`);
    /** The data trigger's calls, from each server's JSON log: one line per delivery it was handed. */
    const triggerCalls = (s: Served) => s.logLines().filter((l) => l.message.startsWith('data trigger:')).map((l) => Number(l.eventid));
    const cronHolder = async () => ((await knex('smas_lease').where({ name: 'rms.cron' }).first('holder', 'expires')) as { holder: string | null; expires: number } | undefined);
    const fires = async () =>
      (await knex('rms_cron_fire').orderBy('scheduled').select('cron_name', 'scheduled', 'fired', 'outcome', 'processid', 'workflowid')) as {
        cron_name: string; scheduled: number; fired: number; outcome: string; processid: string; workflowid: number | null;
      }[];

    // Firing every second, from the process that holds the lease.
    await until(async () => (await fires()).length >= 3, 30_000, 'three cron firings');
    const holderId = (await cronHolder())!.holder!;
    const holder = servers.find((s) => s.child.pid === pidOf(holderId));
    expect(holder, `the lease holder ${holderId} is one of the two servers`).toBeDefined();
    const other = servers.find((s) => s !== holder) as Served;

    const beforeKill = await publishDataset(1);
    await delivered(beforeKill);
    // Caught delivering: the event's workflow names as its input a solution whose row the test
    // holds locked (as a long transaction elsewhere would), so a delivery waits inside the
    // trigger's transaction. If the other process claims it first, its claim lapses
    // (ems.outbox.claimMs) while it waits, and the holder claims it too.
    let upstream: { solutionid: number } | undefined;
    await until(
      async () => !!(upstream = (await knex('rms_workflow').where({ name: 'killcron', status: 'SUCCESS' }).orderBy('id').first('solutionid')) as typeof upstream),
      15_000,
      'a killcron workflow SUCCESS',
    );
    const lock = await knex.transaction();
    let inFlight: number;
    try {
      await lock('rms_solution').where({ id: upstream!.solutionid }).forUpdate().select('id');
      inFlight = await publishDataset(2, Number(upstream!.solutionid));
      await until(() => triggerCalls(holder!).includes(inFlight), 15_000, `the holder delivering event ${inFlight}`);
      expect(await eventRow(inFlight)).toMatchObject({ state: 'PENDING', delivered: null });
      holder!.child.kill('SIGKILL');
      await holder!.exited;
    } finally {
      await lock.rollback();
    }
    const killedAt = Date.now();
    await until(async () => pidOf((await cronHolder())?.holder) === other.child.pid, LEASE_MS + 5000, 'the other process holding rms.cron');
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(LEASE_MS + 3000);
    const tookOver = Date.now();

    // It keeps firing: a few more seconds.
    await until(async () => (await fires()).filter((f) => pidOf(f.processid) === other.child.pid && Number(f.fired) > tookOver).length >= 4, 15_000, 'firings after the takeover');
    const all = await fires();

    // Never doubled: one row per (trigger, second), as the unique index also guarantees.
    const keys = all.map((f) => `${f.cron_name} ${Number(f.scheduled)}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const f of all) {
      expect(f.cron_name).toBe('killcron#1');
      expect(Number(f.scheduled) % 1000).toBe(0);
      expect(['FIRED', 'CAUGHT_UP']).toContain(f.outcome);
    }
    // Before the kill, the holder fired; after, the other. The gap is no longer than the lease.
    const slots = all.map((f) => Number(f.scheduled));
    const killedSlots = all.filter((f) => f.processid === holderId).map((f) => Number(f.scheduled));
    const lastBefore = Math.max(...killedSlots);
    const after = all.filter((f) => Number(f.scheduled) > lastBefore);
    expect(after.length).toBeGreaterThanOrEqual(4);
    for (const f of after) expect(pidOf(f.processid)).toBe(other.child.pid);
    expect(Number(after[0].scheduled) - lastBefore).toBeLessThanOrEqual(LEASE_MS + 2000);
    // The slot missed while no process held the lease is caught up at most once.
    expect(all.filter((f) => f.outcome === 'CAUGHT_UP').length).toBeLessThanOrEqual(1);
    // Then every second again.
    for (let i = 1; i < after.length; i++) {
      if (Number(after[i - 1].fired) < tookOver) continue;
      expect(Number(after[i].scheduled) - Number(after[i - 1].scheduled), `slots ${slots.join(',')}`).toBe(1000);
    }

    // No event lost: the workflows the killed process left are run by the other, and every
    // event in the outbox (each workflow's workflow.finished among them) is delivered. Firings
    // go on meanwhile: the check covers what was created up to a moment ago.
    const cutoff = Date.now() - 1000;
    await until(
      async () => Number(((await knex('rms_workflow').where('created', '<', cutoff).whereNot({ status: 'SUCCESS' }).count({ n: '*' })) as { n: string | number }[])[0].n) === 0,
      15_000,
      'every cron workflow created before the cutoff SUCCESS',
    );
    const workflows = ((await knex('rms_workflow').where('created', '<', cutoff).select('id')) as { id: number }[]).map((w) => Number(w.id));
    expect(workflows.length).toBeGreaterThanOrEqual(all.filter((f) => Number(f.fired) < cutoff).length);
    type Row = { id: number; topic: string; payload: string; state: string; created: number };
    const outbox = async () => (await knex('ems_outbox').select('id', 'topic', 'payload', 'state', 'created')) as Row[];
    const finishedOf = (rows: Row[]) => rows.filter((r) => r.topic === 'workflow.finished').map((r) => ({ ...r, workflowid: Number((JSON.parse(r.payload) as { workflowid: number }).workflowid) }));
    await until(
      async () => {
        const rows = await outbox();
        const delivered = new Set(finishedOf(rows).filter((r) => r.state === 'DELIVERED').map((r) => r.workflowid));
        return workflows.every((id) => delivered.has(id)) && rows.every((r) => Number(r.created) >= cutoff || r.state === 'DELIVERED');
      },
      15_000,
      'every event DELIVERED',
    );
    const rows = await outbox();
    // Every event of the time before the cutoff delivered, one workflow.finished per workflow: none lost, none doubled.
    const before = rows.filter((r) => Number(r.created) < cutoff);
    expect(before.length).toBeGreaterThan(0);
    expect(before.filter((r) => r.state !== 'DELIVERED')).toEqual([]);
    const finished = finishedOf(rows).map((r) => r.workflowid);
    expect(finished).toEqual(expect.arrayContaining(workflows));
    expect(new Set(finished).size).toBe(finished.length);

    // The event the killed process was delivering: delivered by the other, after the kill.
    const afterKill = await publishDataset(3);
    await delivered(inFlight);
    await delivered(afterKill);
    expect(Number((await eventRow(inFlight)).delivered)).toBeGreaterThan(killedAt);
    const calls = { killed: triggerCalls(holder!), survivor: triggerCalls(other) };
    const callsOf = (id: number) => [...calls.killed, ...calls.survivor].filter((e) => e === id).length;
    // At least once: the killed process's call was cut short, the survivor's delivered it (a
    // second call of its own where its claim lapsed meanwhile).
    expect(calls.killed).toContain(inFlight);
    expect(calls.survivor).toContain(inFlight);
    // Duplicates only of that event: the others, delivered before and after the kill, once each.
    expect([...calls.killed, ...calls.survivor].filter((e) => e !== inFlight).sort((x, y) => x - y)).toEqual([beforeKill, afterKill]);
    // A repeat starts nothing: one killdata workflow per event (its runid), each run to SUCCESS.
    await until(
      async () => Number(((await knex('rms_workflow').where({ name: 'killdata' }).whereNot({ status: 'SUCCESS' }).count({ n: '*' })) as { n: string | number }[])[0].n) === 0,
      15_000,
      'every killdata workflow SUCCESS',
    );
    const started = (await knex('rms_workflow').where({ name: 'killdata' }).orderBy('id').select('runid')) as { runid: string }[];
    expect(started.map((w) => w.runid).sort()).toEqual([beforeKill, inFlight, afterKill].map((id) => `event-${id}`).sort());
    console.log(`cron takeover in ${takeoverMs} ms; ${all.length} firings, ${all.filter((f) => f.outcome === 'CAUGHT_UP').length} caught up; ${before.length} outbox rows delivered; event ${inFlight} delivered ${callsOf(inFlight)} times (killed ${calls.killed.filter((e) => e === inFlight).length}, survivor ${calls.survivor.filter((e) => e === inFlight).length})`);
  });
});
