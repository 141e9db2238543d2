import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { layout, renderGraphSvg, type Graph } from '../../subsystems/rms/grid.js';
import { HELD_POOL } from '../fixtures/rms-workflows.js';
import { operator, startHarness, type Harness } from '../fixtures/rms-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});

describe('the grid of a descriptor', () => {
  test('shows the last N workflows newest first × their steps, each cell from the per-step counts, page after page', async () => {
    const made: number[] = [];
    for (let i = 0; i < 3; i++) made.push((await h.rms.start('held-pair', { params: { n: 2, m: 1 } }, operator)).id);
    const claimed = (await h.rms.queue.claim(HELD_POOL, 6)).filter((j) => j.workflowid === made[2]);
    await h.rms.queue.record(claimed, claimed.map((job) => ({ job, status: 'SUCCESS' as const })));

    const g = await h.rms.ops.grid('held-pair', { n: 2 });
    expect(g.steps).toEqual(['first', 'second']);
    expect(g.workflows.map((w) => w.id)).toEqual([made[2], made[1]]);
    expect(g.workflows[0].cells.first).toMatchObject({ status: 'SUCCESS', counts: { SUCCESS: 2, READY: 0 } });
    expect(g.workflows[0].cells.second).toMatchObject({ status: 'RUNNING', counts: { READY: 1 } });
    expect(g.workflows[1].cells.second).toMatchObject({ status: 'WAITING', counts: { WAITING: 1 } });
    expect(g.next).toBe(made[1]);
    const older = await h.rms.ops.grid('held-pair', { n: 2, before: g.next! });
    expect(older.workflows.map((w) => w.id)).toEqual([made[0]]);
    expect(older.next).toBeNull();
    expect((await h.rms.ops.grid('no-such-descriptor')).workflows).toEqual([]);
    for (const id of made) await h.rms.actions.cancel(id, operator);
  });
});

describe("a workflow's graph", () => {
  test('puts each step one layer past its longest path from a first step, so every edge points right', async () => {
    const { id } = await h.rms.start('held-pair', { params: { n: 1, m: 1 } }, operator);
    const g = await h.rms.ops.graph(id);
    expect(g.nodes.map((n) => [n.name, n.layer, n.status])).toEqual([['first', 0, 'RUNNING'], ['second', 1, 'WAITING']]);
    expect(g.edges).toHaveLength(1);
    for (const e of g.edges) expect(e.x2).toBeGreaterThan(e.x1);
    const svg = h.rms.ops.svg(g);
    expect(svg).toMatch(/^<svg [^>]*width="\d+"/);
    expect(svg).toContain('fill="#9ecae1"');
    await h.rms.actions.cancel(id, operator);
    await expect(h.rms.ops.graph(999_999)).rejects.toMatchObject({ code: 'DPC_RMS_WORKFLOW_NOT_FOUND' });
  });

  test('lays out a diamond in three layers, the fan-out ordered by the descriptor', () => {
    const placed = layout(
      [{ id: 1, position: 0 }, { id: 2, position: 1 }, { id: 3, position: 2 }, { id: 4, position: 3 }, { id: 5, position: 4 }],
      [{ stepid: 2, upstreamid: 1 }, { stepid: 3, upstreamid: 1 }, { stepid: 4, upstreamid: 2 }, { stepid: 4, upstreamid: 3 }, { stepid: 5, upstreamid: 1 }, { stepid: 5, upstreamid: 4 }],
    );
    expect(Object.fromEntries([...placed].map(([id, p]) => [id, [p.layer, p.row]]))).toEqual({ 1: [0, 0], 2: [1, 0], 3: [1, 1], 4: [2, 0], 5: [3, 0] });
  });

  test('escapes the names it draws', () => {
    const g: Graph = { workflowid: 1, name: 'x', status: 'RUNNING', width: 100, height: 60, edges: [], nodes: [{ id: 1, name: '<script>"x"&', status: 'FAILED', counts: { WAITING: 0, READY: 0, CLAIMED: 0, RUNNING: 0, RETRY_WAIT: 0, SUCCESS: 0, FAILED: 1, CANCELLED: 0 }, layer: 0, x: 0, y: 0, width: 90, height: 40 }] };
    const svg = renderGraphSvg(g);
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;&quot;x&quot;&amp;');
  });
});
