import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ended, jobsOf, operator, startHarness, type Harness } from '../fixtures/rms-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});

describe('a workflow runs its steps as a DAG', () => {
  test('the downstream step starts only after every job of all its upstream steps succeeded', async () => {
    const file = join(h.t.dir, 'order.txt');
    const s = await h.rms.start('dag', { params: { file, n: 3 } }, operator);
    expect(s.created).toBe(true);
    expect(s.jobs).toBe(1 + 3 + 1 + 1);
    expect((await ended(h, s.id)).status).toBe('SUCCESS');

    const lines = readFileSync(file, 'utf8').trim().split('\n');
    const at = (line: string) => {
      const i = lines.indexOf(line);
      expect(i, line).toBeGreaterThanOrEqual(0);
      return i;
    };
    for (const tag of ['b0', 'b1', 'b2', 'c']) expect(at(`start ${tag}`)).toBeGreaterThan(at('end a'));
    for (const tag of ['b0', 'b1', 'b2', 'c']) expect(at('start d')).toBeGreaterThan(at(`end ${tag}`));
    expect(lines).toHaveLength(12);

    // The database agrees: each job of d was claimed no earlier than the last upstream job ended.
    const jobs = await jobsOf(h, s.id);
    const endOf = (step: string) => Math.max(...jobs.filter((j) => j.step === step).map((j) => Number(j.endtime)));
    const startOf = (step: string) => Math.min(...jobs.filter((j) => j.step === step).map((j) => Number(j.starttime)));
    expect(startOf('b')).toBeGreaterThanOrEqual(endOf('a'));
    expect(startOf('c')).toBeGreaterThanOrEqual(endOf('a'));
    expect(startOf('d')).toBeGreaterThanOrEqual(Math.max(endOf('b'), endOf('c')));
  });

  test('a fanned-out step has one job per element of its expansion, each with its data specification', async () => {
    const s = await h.rms.start('dag', { params: { file: join(h.t.dir, 'fan.txt'), n: 5 } }, operator);
    await ended(h, s.id);
    const b = (await jobsOf(h, s.id)).filter((j) => j.step === 'b');
    expect(b.map((j) => JSON.parse(String(j.dataspec)))).toEqual(Array.from({ length: 5 }, (_, i) => ({ tag: `b${i}`, ms: 20 + 10 * i })));
    expect(b.every((j) => j.status === 'SUCCESS' && j.tasktype === 't.append')).toBe(true);
    expect(b.every((j) => Number(j.attempts) === 1)).toBe(true);
  });

  test('a finished workflow is SUCCESS and its per-step counts equal its jobs', async () => {
    const s = await h.rms.start('dag', { params: { file: join(h.t.dir, 'counts.txt'), n: 4 } }, operator);
    await ended(h, s.id);
    const wf = await h.rms.reads.workflow(s.id);
    expect(wf.status).toBe('SUCCESS');
    expect(wf.reason).toBeNull();
    expect(Number(wf.endtime)).toBeGreaterThanOrEqual(Number(wf.starttime));
    const jobs = await jobsOf(h, s.id);
    for (const step of wf.steps) {
      const ofStep = jobs.filter((j) => j.step === step.name);
      expect(step.status, step.name).toBe('SUCCESS');
      expect(step.counts.SUCCESS, step.name).toBe(ofStep.length);
      expect(Object.entries(step.counts).filter(([k]) => k !== 'SUCCESS').every(([, n]) => n === 0), step.name).toBe(true);
    }
    expect(wf.steps.map((st) => st.counts.SUCCESS).sort()).toEqual([1, 1, 1, 4]);
    expect(wf.counts.SUCCESS).toBe(7);
  });

  test('each workflow records an output solution of the descriptor\'s data-model type', async () => {
    const s = await h.rms.start('simple', {}, operator);
    await ended(h, s.id);
    const wf = await h.rms.reads.workflow(s.id);
    expect(wf.solutionid).not.toBeNull();
    const solution = (await h.rms.reads.solution(Number(wf.solutionid))) as unknown as { dmtype: string; workflowid: number };
    expect(solution.dmtype).toBe('TestSolution');
    expect(Number(solution.workflowid)).toBe(s.id);
    const jobs = await jobsOf(h, s.id);
    expect(jobs.every((j) => Number(j.solutionid) === Number(wf.solutionid))).toBe(true);
  });

  test('a step with no jobs ends at once and lets the workflow go on', async () => {
    const s = await h.rms.start('dag', { params: { file: join(h.t.dir, 'empty.txt'), n: 0 } }, operator);
    expect((await ended(h, s.id)).status).toBe('SUCCESS');
    const wf = await h.rms.reads.workflow(s.id);
    expect(wf.steps.find((st) => st.name === 'b')?.status).toBe('SUCCESS');
  });

  test('starting a workflow of an unknown descriptor is refused with DPC_RMS_UNKNOWN_DESCRIPTOR', async () => {
    await expect(h.rms.start('nope', {}, operator)).rejects.toMatchObject({ code: 'DPC_RMS_UNKNOWN_DESCRIPTOR' });
  });
});
