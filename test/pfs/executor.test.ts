import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Config } from '../../config/schema.js';
import { LocalExecutor, type Ran } from '../../subsystems/pfs/local/executor.js';
import { TaskTypes } from '../../subsystems/pfs/tasks.js';
import type { ClaimedJob } from '../../subsystems/rms/index.js';

const TASKS = new URL('../fixtures/rms-tasks.ts', import.meta.url).href;
const CONFIG: Config['pfs']['local'] = { threads: 1, batchesPerThread: 2, batchMs: 20, cpus: 0, memoryMb: 0, logMaxKb: 64, logBackups: 1 };

let dir: string;
let executor: LocalExecutor;
let nextId = 1;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dpc-executor-'));
  const tasks = new TaskTypes();
  for (const name of ['noop', 'sleep', 'crashIf', 'echoSpec']) tasks.register({ name: `t.${name}`, kind: 'function', module: TASKS, export: name });
  executor = new LocalExecutor(CONFIG, tasks, { dir: join(dir, 'segments'), writer: 'test', config: { dir: '', segmentMb: 64, segmentAgeMs: 3_600_000, flushMs: 200, fsync: 'none' } }, join(dir, 'out'));
});
afterEach(async () => {
  await executor.close();
  rmSync(dir, { recursive: true, force: true });
});

function job(tasktype: string, dataspec: Record<string, unknown> = {}, more: Partial<ClaimedJob> = {}): ClaimedJob {
  return {
    id: nextId++, workflowid: 1, stepid: 1, tasktype, dataspec: JSON.stringify(dataspec), priority: 0, solutionid: null, attempts: 0, max_attempts: 1,
    backoff_ms: 0, timeout_ms: null, cpus: 1, memory_mb: null, params: null, claim: 1, ...more,
  };
}

/** Hands the jobs to the executor in one turn of the event loop, as the dispatcher does after a claim. */
function run(jobs: ClaimedJob[]): Promise<Ran[]> {
  return Promise.all(jobs.map((j) => executor.run(j)));
}

describe('the local executor sends jobs to its threads', () => {
  test('short jobs go together, so it takes on many more of them than threads × batchesPerThread', async () => {
    expect(executor.capacity()).toBe(2);
    const ran = await run(Array.from({ length: 300 }, () => job('t.noop')));
    expect(ran.map((r) => r.outcome.status)).toEqual(Array(300).fill('SUCCESS'));
    expect(ran[0].outcome).toMatchObject({ result: '{"ok":true}' });
    expect(executor.capacity()).toBeGreaterThan(50);
  });

  test('jobs longer than a batch go one by one: it takes on no more than threads × batchesPerThread', async () => {
    const ran = await run(Array.from({ length: 4 }, () => job('t.sleep', { ms: 40 })));
    expect(ran.map((r) => r.outcome.status)).toEqual(Array(4).fill('SUCCESS'));
    expect(executor.capacity()).toBe(2);
  });

  test('runs stopped just after they began do not count as short jobs: after a burst of stops it still takes on threads × pipeline', async () => {
    await run(Array.from({ length: 2 }, () => job('t.sleep', { ms: 40 })));
    const jobs = Array.from({ length: 40 }, () => job('t.sleep', { ms: 5_000 }));
    const ran = run(jobs);
    await new Promise((r) => setTimeout(r, 100));
    for (const j of jobs) executor.stop(j.id, 'handed away', true);
    expect((await ran).map((r) => r.outcome.status)).toEqual(Array(40).fill('HANDED_BACK'));
    expect(executor.capacity()).toBe(2);
  });

  test("while its start gate is closed (its process's job leases in doubt) a thread begins no job: each goes back to the queue unrun; opened again, jobs run", async () => {
    executor.openStartsFor(-1);
    const closed = await run(Array.from({ length: 3 }, () => job('t.echoSpec')));
    expect(closed.map((r) => r.outcome)).toEqual(closed.map((r) => ({ job: r.outcome.job, status: 'HANDED_BACK', reason: "not begun: its process's job leases were in doubt" })));
    executor.openStartsFor(60_000);
    expect((await run([job('t.noop')])).map((r) => r.outcome.status)).toEqual(['SUCCESS']);
  });

  test('a thread that dies in the middle of a batch fails only the job that ran; the others of its batch go back to the queue', async () => {
    // Seen short first, so that the next ones are batched together.
    await run(Array.from({ length: 50 }, () => job('t.crashIf')));
    const batch = Array.from({ length: 9 }, (_, i) => job('t.crashIf', { crash: i === 4 }));
    const ran = await run(batch);
    expect(ran[4].outcome).toMatchObject({ status: 'FAILED', reason: expect.stringMatching(/worker thread crashed/) });
    // Those before it had run, but their results went with the thread; those after had not begun.
    for (const i of [0, 1, 2, 3, 5, 6, 7, 8]) expect(ran[i].outcome.status).toBe('HANDED_BACK');
    expect((ran[0].outcome as { reason: string }).reason).toMatch(/before its result came back/);
    expect((ran[8].outcome as { reason: string }).reason).toMatch(/before it began/);
    // The pool has a new thread, and the same jobs succeed there.
    expect((await run([job('t.crashIf')]))[0].outcome.status).toBe('SUCCESS');
  });

  test('a batch that runs past its time returns what it did, and the rest go again: every job ends once', async () => {
    await run([job('t.sleep', { ms: 1 })]);
    const ran = await run(Array.from({ length: 40 }, () => job('t.sleep', { ms: 5 })));
    expect(ran.map((r) => r.outcome.status)).toEqual(Array(40).fill('SUCCESS'));
  });
});

describe('a TypeScript task', () => {
  test('receives its job spec: ids, attempt, data specification, its workflow parameters and an output directory of its own', async () => {
    const j = job('t.echoSpec', { day: '2026-01-01' }, { workflowid: 7, stepid: 3, attempts: 1, solutionid: 12, params: '{"list":[],"band":"G"}' });
    const [ran] = await run([j]);
    expect(ran.outcome.status).toBe('SUCCESS');
    const { spec } = JSON.parse((ran.outcome as { result: string }).result) as { spec: Record<string, unknown> };
    expect(spec).toEqual({
      jobid: j.id, workflowid: 7, stepid: 3, tasktype: 't.echoSpec', attempt: 2, dataspec: { day: '2026-01-01' },
      params: { list: [j.id], band: 'G' }, solutionid: 12, outputDir: join(dir, 'out', '7', String(j.id)),
    });
  });

  test('gets objects of its own: a job that changes its parameters does not change those of the next job of its batch', async () => {
    const params = '{"list":[]}';
    // Seen short first, so that the next ones go to the thread in one batch.
    await run(Array.from({ length: 20 }, () => job('t.echoSpec', {}, { params })));
    const ran = await run(Array.from({ length: 5 }, () => job('t.echoSpec', {}, { params })));
    expect(ran.map((r) => JSON.parse((r.outcome as { result: string }).result).listed)).toEqual([1, 1, 1, 1, 1]);
  });
});
