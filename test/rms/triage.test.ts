import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { normaliseReason } from '../../subsystems/rms/triage.js';
import { failHeld, jobsOf, operator, startHarness, type Harness } from '../fixtures/rms-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});

describe('a failure reason, normalised', () => {
  test.each([
    ['cannot open /data/2026-01-31/obs_00123.arrow: ENOENT', 'cannot open /data/<n>-<n>-<n>/obs_<n>.arrow: ENOENT'],
    ['job 4711 fails until /tmp/flag-9 exists', 'job <n> fails until /tmp/flag-<n> exists'],
    ['lock 0x7f3a held by 3f1c2a9b8e7d', 'lock <hex> held by <hex>'],
    ['request 123e4567-e89b-12d3-a456-426614174000 timed out after 2.5 s', 'request <uuid> timed out after <n> s'],
    ['  spaces \n and   lines ', 'spaces and lines'],
    ['gsr-solve exited with code 137 after 12 s', 'gsr-solve exited with code 137 after <n> s'],
  ])('%j reads %j', (reason, expected) => {
    expect(normaliseReason(reason)).toBe(expected);
  });

  test('keeps words that only look like hex ("deadline", "accepted")', () => {
    expect(normaliseReason('deadline accepted')).toBe('deadline accepted');
  });
});

describe('failure triage', () => {
  test("groups a range's failed jobs by cause with a count and the latest as example, and retries one group", async () => {
    const start = Date.now() - 1;
    const a = await failHeld(h, ['cannot open /data/1/x.arrow', 'prog exited with code 3', 'cannot open /data/22/x.arrow']);
    const b = await failHeld(h, ['cannot open /data/333/x.arrow']);
    const t = await h.rms.ops.triage.groups(start, Date.now() + 1, Date.now());
    expect(t).toMatchObject({ failed: 4, truncated: false });
    expect(t.groups.map((g) => [g.pattern, g.tasktype, g.nodeid, g.count])).toEqual([
      ['cannot open /data/<n>/x.arrow', 't.noop', null, 3],
      ['prog exited with code 3', 't.noop', null, 1],
    ]);
    const [open] = t.groups;
    expect(open.example).toEqual({ jobid: b.jobids[0], workflowid: b.workflowid, reason: 'cannot open /data/333/x.arrow', attempt: 1, log: `/api/pfs/jobs/${b.jobids[0]}/log?attempt=1` });

    const r = await h.rms.ops.triage.retry({ from: t.from, to: t.to, pattern: open.pattern, tasktype: open.tasktype, nodeid: open.nodeid }, { username: 'dave', reason: 'the mount is back' });
    expect(r).toMatchObject({ action: 'retry', matched: 3, changed: 3 });
    expect((await jobsOf(h, a.workflowid)).map((j) => j.status)).toEqual(['READY', 'FAILED', 'READY']);
    expect((await jobsOf(h, b.workflowid)).map((j) => j.status)).toEqual(['READY']);
    const audit = (await h.knex('smas_audit').where({ action: 'jobs.bulk-retry' })) as { reason: string; detail: string }[];
    expect(audit).toHaveLength(1);
    expect(JSON.parse(audit[0].detail)).toMatchObject({ filter: { triageGroup: { pattern: open.pattern } }, matched: 3 });
    for (const w of [a.workflowid, b.workflowid]) await h.rms.actions.cancel(w, operator);
  });

  test('refuses a range that ends before it starts', async () => {
    await expect(h.rms.ops.triage.groups(10, 5, Date.now())).rejects.toMatchObject({ code: 'DPC_RMS_PARAMS' });
  });
});
