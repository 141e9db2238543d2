import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CRON_WORKFLOWS, WORKFLOWS, ended, jobsOf, operator, startHarness, until, workflowRow, type Harness } from '../fixtures/rms-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ descriptors: [WORKFLOWS, CRON_WORKFLOWS] });
});
afterAll(async () => {
  await h?.stop();
});

describe('manual starts', () => {
  test('a manual start records its parameters, priority, trigger and who started it, and is audited', async () => {
    const s = await h.rms.start('simple', { params: { day: '2026-01-02', band: 'G' }, priority: 7, runid: 'by-hand-1' }, { username: 'alice', reason: 'first light' });
    expect(s).toMatchObject({ created: true, jobs: 1 });
    const wf = await h.rms.reads.workflow(s.id);
    expect(wf).toMatchObject({ name: 'simple', trigger_kind: 'MANUAL', created_by: 'alice', runid: 'by-hand-1', params: { day: '2026-01-02', band: 'G' } });
    expect(Number(wf.priority)).toBe(7);
    expect((await jobsOf(h, s.id)).map((j) => Number(j.priority))).toEqual([7]);
    const [audit] = (await h.knex('smas_audit').where({ action: 'workflow.manual', target: `workflow ${s.id}` })) as { username: string; reason: string }[];
    expect(audit).toMatchObject({ username: 'alice', reason: 'first light' });
    expect((await ended(h, s.id)).status).toBe('SUCCESS');
  });

  test('a second start with the same runid creates nothing', async () => {
    const again = await h.rms.start('simple', { runid: 'by-hand-1' }, operator);
    expect(again.created).toBe(false);
    expect(await h.knex('rms_workflow').where({ name: 'simple', runid: 'by-hand-1' })).toHaveLength(1);
  });

  test('a start with a priority out of range is refused and creates nothing', async () => {
    // Of its own name: the cron workflow of this harness fires every second meanwhile.
    const before = (await h.knex('rms_workflow').where({ name: 'simple' }).count({ n: '*' }).first()) as { n: number | string };
    await expect(h.rms.start('simple', { priority: 5000 }, operator)).rejects.toMatchObject({ code: 'DPC_RMS_PRIORITY' });
    const after = (await h.knex('rms_workflow').where({ name: 'simple' }).count({ n: '*' }).first()) as { n: number | string };
    expect(Number(after.n)).toBe(Number(before.n));
  });
});

describe('backfill', () => {
  test('a backfill of three days creates three workflows, each with its day in the parameters', async () => {
    const started = await h.rms.backfill('simple', '2026-02-27', '2026-03-01', { username: 'alice', reason: 'reprocess February' }, { band: 'RP' });
    expect(started).toHaveLength(3);
    expect(started.every((s) => s.created)).toBe(true);
    const rows = await Promise.all(started.map((s) => h.rms.reads.workflow(s.id)));
    expect(rows.map((r) => r.params)).toEqual([
      { band: 'RP', day: '2026-02-27' },
      { band: 'RP', day: '2026-02-28' },
      { band: 'RP', day: '2026-03-01' },
    ]);
    expect(rows.every((r) => r.trigger_kind === 'BACKFILL' && r.created_by === 'alice')).toBe(true);
    for (const s of started) expect((await ended(h, s.id)).status).toBe('SUCCESS');
  });

  test('a backfill with days the wrong way round or not as YYYY-MM-DD is refused', async () => {
    await expect(h.rms.backfill('simple', '2026-03-02', '2026-03-01', operator)).rejects.toMatchObject({ code: 'DPC_RMS_PARAMS' });
    await expect(h.rms.backfill('simple', '1/3/2026', '2026-03-01', operator)).rejects.toMatchObject({ code: 'DPC_RMS_PARAMS' });
  });
});

describe('reprocessing', () => {
  test('reprocessing creates a new workflow under a new solution ID, with its parent recorded', async () => {
    const parent = await h.rms.start('dag', { params: { file: `${h.t.dir}/reprocess.txt`, n: 2 } }, operator);
    await ended(h, parent.id);
    const child = await h.rms.reprocess(parent.id, { failedOnly: false }, { username: 'alice', reason: 'new calibration' });
    expect(child.created).toBe(true);
    expect(child.jobs).toBe(5);
    const [p, c] = [await workflowRow(h, parent.id), await workflowRow(h, child.id)];
    expect(c).toMatchObject({ trigger_kind: 'REPROCESS', name: 'dag' });
    expect(Number(c.parentid)).toBe(parent.id);
    expect(c.solutionid).not.toBeNull();
    expect(Number(c.solutionid)).not.toBe(Number(p.solutionid));
    expect(JSON.parse(String(c.params))).toEqual(JSON.parse(String(p.params)));
    expect((await ended(h, child.id)).status).toBe('SUCCESS');
    const jobs = await jobsOf(h, child.id);
    expect(jobs.every((j) => Number(j.solutionid) === Number(c.solutionid))).toBe(true);
  });

  test('reprocessing only what failed creates only the jobs that did not succeed', async () => {
    const parent = await h.rms.start('mixed', { params: { flag: `${h.t.dir}/never-there` } }, operator);
    expect((await ended(h, parent.id)).status).toBe('FAILED');
    const parentJobs = await jobsOf(h, parent.id);
    const failed = parentJobs.filter((j) => j.status === 'FAILED');
    expect(failed).toHaveLength(1);

    const child = await h.rms.reprocess(parent.id, { failedOnly: true }, operator);
    // The failed job again, and the job of the step that never ran.
    expect(child.jobs).toBe(2);
    const jobs = await jobsOf(h, child.id);
    expect(jobs.filter((j) => j.step === 'work').map((j) => j.dataspec)).toEqual([failed[0].dataspec]);
    expect(jobs.filter((j) => j.step === 'after')).toHaveLength(1);
    expect(Number((await workflowRow(h, child.id)).parentid)).toBe(parent.id);
    expect((await ended(h, child.id)).status).toBe('FAILED');
  });

  test('a running workflow cannot be reprocessed (DPC_RMS_STATE)', async () => {
    const s = await h.rms.start('slow', {}, operator);
    await expect(h.rms.reprocess(s.id, { failedOnly: false }, operator)).rejects.toMatchObject({ code: 'DPC_RMS_STATE' });
    await h.rms.actions.cancel(s.id, operator);
  });
});

describe('cron triggers', () => {
  test('an every-second schedule fires, once per slot, each firing recorded with its own scheduled time', async () => {
    type Fire = { scheduled: number | string; outcome: string; workflowid: number | null; cron_name: string };
    const fires = async () => (await h.knex('rms_cron_fire').where({ cron_name: 'ticker#1' }).orderBy('scheduled')) as Fire[];
    await until(async () => (await fires()).length >= 3, 15_000, 'three cron firings');
    const rows = await fires();
    const slots = rows.map((r) => Number(r.scheduled));
    expect(new Set(slots).size).toBe(slots.length);
    expect(slots.every((t) => t % 1000 === 0)).toBe(true);
    expect(rows.every((r) => r.outcome === 'FIRED' && r.workflowid !== null)).toBe(true);

    // Each firing is a workflow of its own, with the scheduled time in its parameters.
    const wf = await workflowRow(h, Number(rows[0].workflowid));
    expect(wf).toMatchObject({ name: 'ticker', trigger_kind: 'CRON', runid: `cron-${new Date(slots[0]).toISOString()}` });
    expect(JSON.parse(String(wf.params))).toEqual({ from: 'cron', scheduled: new Date(slots[0]).toISOString() });
    const workflows = (await h.knex('rms_workflow').where({ name: 'ticker' })) as { runid: string }[];
    expect(new Set(workflows.map((i) => i.runid)).size).toBe(workflows.length);
  });

  test("the descriptors list gives a cron trigger's schedule and its next firing, the next whole second", async () => {
    const asked = Date.now();
    const ticker = (await h.rms.descriptors()).find((d) => d.name === 'ticker')!;
    expect(ticker.triggers).toEqual([{ kind: 'cron', cronName: 'ticker#1', schedule: '*/1 * * * * *', params: { from: 'cron' }, next: expect.any(Number) }]);
    const next = (ticker.triggers[0] as { next: number }).next;
    expect(next % 1000).toBe(0);
    expect(next).toBeGreaterThan(asked - 1000);
    expect(next).toBeLessThanOrEqual(Math.ceil((Date.now() + 1) / 1000) * 1000);
  });
});

describe('data triggers', () => {
  test('a dataset.updated event of a matching type starts one workflow; a repeat of the same event starts no second', async () => {
    await h.knex.transaction((trx) => h.ems.bus.publish(trx, 'dataset.updated', { datasetid: 41, dmtype: 'TestData' }));
    await h.knex.transaction((trx) => h.ems.bus.publish(trx, 'dataset.updated', { datasetid: 42, dmtype: 'OtherData' }));
    type Wf = { id: number; runid: string; params: string; trigger_kind: string; created_by: string };
    const started = async () => (await h.knex('rms_workflow').where({ name: 'on-data' })) as Wf[];
    await until(async () => (await started()).length === 1, 15_000, 'a workflow from the data trigger');
    const [wf] = await started();
    expect(wf).toMatchObject({ trigger_kind: 'DATA', created_by: 'data trigger' });
    expect(wf.runid).toMatch(/^event-\d+$/);
    expect(JSON.parse(wf.params)).toMatchObject({ datasetid: 41, dmtype: 'TestData' });
    expect((await ended(h, Number(wf.id))).status).toBe('SUCCESS');

    // The same event delivered again names the same run: nothing new.
    const again = await h.rms.start('on-data', { runid: wf.runid }, operator);
    expect(again).toMatchObject({ created: false, id: Number(wf.id) });
    // Give the other event time to be delivered: it matches no trigger.
    await new Promise((r) => setTimeout(r, 300));
    expect(await started()).toHaveLength(1);
  });

  test("a dataset that names its solution is the workflow's input: the new solution's provenance reaches back to it", async () => {
    const upstream = await h.rms.start('on-data', { runid: 'upstream-of-a-dataset' }, operator);
    const upstreamSolution = Number((await ended(h, upstream.id)).solutionid);
    await h.knex.transaction((trx) => h.ems.bus.publish(trx, 'dataset.updated', { datasetid: 43, dmtype: 'TestData', solutionid: upstreamSolution }));
    const fromDataset = async () => (await h.knex('rms_workflow').where({ name: 'on-data', trigger_kind: 'DATA' }).andWhere('params', 'like', '%"datasetid":43%')) as { id: number }[];
    await until(async () => (await fromDataset()).length === 1, 15_000, 'a workflow from the dataset');
    const [wf] = await fromDataset();
    const solution = await h.rms.reads.solution(Number((await ended(h, Number(wf.id))).solutionid));
    expect(solution.inputs.map((i: Record<string, unknown>) => [Number(i.inputsolutionid), i.inputdmtype])).toEqual([[upstreamSolution, 'TestData']]);
  });
});
