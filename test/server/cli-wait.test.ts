import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { projectRoot } from '../../server/paths.js';
import { apiTokenFor } from '../helpers/auth.js';
import { testEnv, type TestEnv } from '../helpers/env.js';
import { killChildren, runCli, serveDpc, type Served } from '../helpers/server.js';

let t: TestEnv;
let served: Served;
let env: Record<string, string>;
beforeAll(async () => {
  t = await testEnv();
  const config = join(t.dir, 'workflows.json');
  writeFileSync(config, JSON.stringify({ rms: { demo: false, descriptors: [resolve(projectRoot, 'pipelines/demo/index.ts'), resolve(projectRoot, 'test/fixtures/rms-workflows.ts')] } }));
  served = await serveDpc(t.env, { args: ['--config', config] });
  env = { ...t.env, DPC_TOKEN: await apiTokenFor(t.env, 'operator') };
});
afterAll(async () => {
  await killChildren();
  await t.cleanup();
});

const dpc = (...args: string[]) => runCli(['--url', served.url, ...args], env, 120_000);
const lines = (stdout: string) => stdout.split('\n').filter(Boolean);

describe('dpc workflow start --wait and backfill --wait', () => {
  test('start demo --wait prints its progress without a terminal and exits 0 once the workflow succeeded', async () => {
    const run = await dpc('workflow', 'start', 'demo', '--wait', '--reason', 'cli wait test');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = lines(run.stdout);
    const id = /^workflow (\d+) \(demo\) started: 242 jobs$/.exec(out[0])?.[1];
    expect(id, run.stdout).toBeDefined();
    const progress = out.slice(1, -1);
    expect(progress.length).toBeGreaterThan(0);
    for (const line of progress) expect(line).toMatch(new RegExp(`^workflow ${id} \\(demo\\): \\d+/242 jobs done, 0 failed; (RUNNING|SUCCESS)$`));
    expect(progress.at(-1)).toBe(`workflow ${id} (demo): 242/242 jobs done, 0 failed; SUCCESS`);
    expect(out.at(-1)).toBe(`workflow ${id} (demo) ended SUCCESS`);
  });

  test('start --wait of a workflow that fails exits 1 and says which workflow failed and how many of its jobs', async () => {
    const run = await dpc('workflow', 'start', 'doomed', '--wait', '-r', 'cli wait test');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^dpc: workflow \d+ \(doomed\) ended FAILED: 1 of 3 jobs failed\n$/);
  });

  test('backfill --wait over two days waits for both workflows and counts the jobs of both', async () => {
    const run = await dpc('workflow', 'backfill', 'simple', '--from', '2026-01-01', '--to', '2026-01-02', '--wait', '-r', 'cli wait test');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = lines(run.stdout);
    expect(out[0]).toBe('backfill of simple, 2026-01-01 to 2026-01-02: 2 workflows, 2 jobs');
    expect(out.at(-2)).toBe('backfill of simple: 2/2 jobs done, 0 failed; workflows SUCCESS 2');
    expect(out.at(-1)).toBe('backfill of simple: 2 workflows ended SUCCESS');
    const { workflows } = (await (await served.api(`${served.url}api/rms/workflows?name=simple`)).json()) as { workflows: { status: string; params: { day: string } }[] };
    expect(workflows.map((w) => `${w.params.day} ${w.status}`).sort()).toEqual(['2026-01-01 SUCCESS', '2026-01-02 SUCCESS']);
  });

  test('backfill --wait exits 1 naming the days whose workflow failed', async () => {
    const run = await dpc('workflow', 'backfill', 'doomed', '--from', '2026-02-01', '--to', '2026-02-02', '--wait', '-r', 'cli wait test');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^dpc: 2 of 2 workflows did not succeed: workflow \d+ \(doomed 2026-02-01\) ended FAILED: 1 of 3 jobs failed; workflow \d+ \(doomed 2026-02-02\) ended FAILED: 1 of 3 jobs failed\n$/);
  });
});
