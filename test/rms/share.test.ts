import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { planClaim, PASS_SCALE, type ShareState } from '../../subsystems/rms/share.js';
import type { ClaimedJob } from '../../subsystems/rms/index.js';
import { HELD_POOL } from '../fixtures/rms-workflows.js';
import { operator, startHarness, workflowRow, type Harness } from '../fixtures/rms-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});

/** Places of the pool the tests serve by hand: each turn fills them, and every job runs one turn. */
const PLACES = 4;

/** One turn of a pool of PLACES places whose jobs all take one turn: claims, then records their ends. */
async function turn(): Promise<ClaimedJob[]> {
  const jobs = await h.rms.queue.claim(HELD_POOL, PLACES);
  await h.rms.queue.record([], jobs.map((job) => ({ job, status: 'SUCCESS' as const })));
  return jobs;
}

/** Turns until the workflow has ended; how many it took. */
async function turnsUntilDone(workflowid: number): Promise<number> {
  for (let n = 1; n <= 10_000; n++) {
    await turn();
    if ((await workflowRow(h, workflowid)).status === 'SUCCESS') return n;
  }
  throw new Error(`workflow ${workflowid} did not end`);
}

/** Claims and ends every job left in the pool, so that the next test starts on an empty queue. */
async function drain(): Promise<void> {
  for (;;) {
    const jobs = await h.rms.queue.claim(HELD_POOL, 1000);
    if (jobs.length === 0) return;
    await h.rms.queue.record([], jobs.map((job) => ({ job, status: 'SUCCESS' as const })));
  }
}

const held = (n: number) => ({ params: { n } });

describe('fair share of a pool between requests', () => {
  test('a fresh run queued behind a backfill of 30 days of 200 jobs ends within twice the turns it takes alone', async () => {
    const alone = await turnsUntilDone((await h.rms.start('held', held(200), operator)).id);
    expect(alone).toBe(200 / PLACES);

    const days = await h.rms.backfill('held', '2026-01-01', '2026-01-30', operator, { n: 200 });
    expect(days).toHaveLength(30);
    // One request, one share, however many days.
    const shares = await h.knex('rms_job').whereIn('workflowid', days.map((d) => d.id)).distinct('shareid').pluck('shareid');
    expect(shares.map(Number)).toEqual([days[0].id]);
    for (let n = 0; n < 20; n++) await turn();

    const fresh = await h.rms.start('held', held(200), operator);
    const shared = await turnsUntilDone(fresh.id);
    expect(shared).toBeLessThanOrEqual(2 * alone);
    // The backfill was not stopped either: it ran beside the fresh run.
    const backfilled = await h.knex('rms_job').whereIn('workflowid', days.map((d) => d.id)).where('status', 'SUCCESS').count({ n: '*' });
    expect(Number(backfilled[0].n)).toBeGreaterThan(20 * PLACES);
    await drain();
  });

  test('two workflows of equal weight queued together get the places in equal measure', async () => {
    const a = await h.rms.start('held', held(400), operator);
    const b = await h.rms.start('held', held(400), operator);
    const got = new Map([[a.id, 0], [b.id, 0]]);
    for (let n = 0; n < 100; n++) for (const job of await turn()) got.set(job.workflowid, got.get(job.workflowid)! + 1);
    expect(got.get(a.id)! + got.get(b.id)!).toBe(100 * PLACES);
    expect(Math.abs(got.get(a.id)! - got.get(b.id)!)).toBeLessThanOrEqual(PLACES);
    await drain();
  });

  test('priority still wins over share: a run of a higher priority gets every place until its jobs are all claimed', async () => {
    const low = await h.rms.start('held', held(300), operator);
    for (let n = 0; n < 5; n++) await turn();
    const high = await h.rms.start('held', { ...held(40), priority: 5 }, operator);
    const order: number[] = [];
    for (let n = 0; n < 20; n++) for (const job of await turn()) order.push(job.workflowid);
    expect(order.slice(0, 40)).toEqual(Array(40).fill(high.id));
    expect(order.slice(40)).toEqual(Array(40).fill(low.id));
    await drain();
  });
});

describe('sharing out a claim', () => {
  const share = (shareid: number, over: Partial<ShareState> = {}): ShareState => ({ shareid, best: 0, pass: 0, weight: 1, ...over });
  const given = (shares: ShareState[], limit: number, credit = 100) => Object.fromEntries(planClaim(shares, limit, credit).legs.map((l) => [l.shareid, l.limit]));

  test('gives shares of equal weight and pass equal parts, and a share of weight 3 three times the part of one of weight 1', () => {
    expect(given([share(1), share(2)], 10)).toEqual({ 1: 5, 2: 5 });
    expect(given([share(1), share(2, { weight: 3 })], 100)).toEqual({ 1: 25, 2: 75 });
  });

  test('gives first to the share that was given less, and brings a share that was away back at most `credit` jobs behind the front', () => {
    expect(given([share(1, { pass: 10 * PASS_SCALE }), share(2, { pass: 4 * PASS_SCALE })], 8)).toEqual({ 1: 1, 2: 7 });
    // Away while the other was given 1 000 jobs: it catches up 5 jobs, not 1 000.
    expect(given([share(1, { pass: 1000 * PASS_SCALE }), share(2, { pass: 0 })], 11, 5)).toEqual({ 1: 3, 2: 8 });
  });

  test('claims only jobs above every other share’s best for a share whose best is the highest, and leaves a pool with no shares alone', () => {
    expect(planClaim([share(1, { best: 5 }), share(2, { best: 1 }), share(3, { best: 3 })], 10, 100).legs).toEqual([{ shareid: 1, limit: 10, priority: null, above: 3 }]);
    expect(planClaim([share(1, { best: 5 }), share(2, { best: 5 }), share(3)], 4, 100).legs).toEqual([
      { shareid: 1, limit: 2, priority: 5, above: null },
      { shareid: 2, limit: 2, priority: 5, above: null },
    ]);
    expect(planClaim([], 10, 100).legs).toEqual([]);
  });
});
