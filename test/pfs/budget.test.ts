import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ended, operator, startHarness, type Harness } from '../fixtures/rms-harness.js';

let h: Harness;
beforeAll(async () => {
  // Four threads, but memory for only one of the jobs at a time.
  h = await startHarness({ env: { DPC_PFS__LOCAL__MEMORYMB: '1000' } });
});
afterAll(async () => {
  await h?.stop();
});

describe('the local executor', () => {
  test('never starts more jobs than its memory budget allows, though threads are free', async () => {
    const file = join(h.t.dir, 'memory.txt');
    const s = await h.rms.start('hungry', { params: { file } }, operator);
    expect((await ended(h, s.id)).status).toBe('SUCCESS');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(8);
    // One at a time: each start is followed by its own end.
    for (let i = 0; i < lines.length; i += 2) expect(lines[i + 1]).toBe(lines[i].replace('start', 'end'));
  });
});
