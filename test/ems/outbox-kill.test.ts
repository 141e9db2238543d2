import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Db } from '../../core/db.js';
import { openDb } from '../../server/db.js';
import { testEnv, type TestEnv } from '../helpers/env.js';
import { killChildren, runTs, spawnTs, until } from '../helpers/server.js';

/**
 * kill -9 of a process that uses the EMS outbox (ARCHITECTURE §3): an event committed with
 * its fact is delivered by the next process even when the first died before delivering it.
 */
const FIXTURE = 'test/fixtures/outbox-process.ts';

let t: TestEnv;
let db: Db | undefined;
let file: string;
let env: Record<string, string>;

beforeEach(async () => {
  t = await testEnv({ DPC_EMS__OUTBOX__POLLMS: '50' });
  file = join(t.dir, 'deliveries.txt');
  env = { ...t.env, OUTBOX_TEST_FILE: file };
});
afterEach(async () => {
  await killChildren();
  await db?.knex.destroy();
  db = undefined;
  await t.cleanup();
});

const deliveries = () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

async function outbox(): Promise<{ id: number; topic: string; payload: string; state: string; attempts: number; delivered: number | null }[]> {
  db ??= await openDb(t.config);
  return db.knex('ems_outbox').select('id', 'topic', 'payload', 'state', 'attempts', 'delivered').orderBy('id');
}

describe('the EMS outbox across kill -9', () => {
  test('an event committed by a process killed before delivering it is delivered by the next one', async () => {
    const died = await runTs(FIXTURE, ['publish'], env);
    expect(died.stderr).toBe('');
    expect(died).toMatchObject({ code: null, signal: 'SIGKILL' });

    const [left, ...others] = await outbox();
    expect(others).toEqual([]);
    expect(left).toMatchObject({ topic: 'dataset.updated', state: 'PENDING', delivered: null });
    expect(Number(left.attempts)).toBe(0);
    expect(JSON.parse(left.payload)).toEqual({ datasetid: 4242, dmtype: 'AstroObservation' });
    expect(deliveries()).toEqual([]);

    const next = spawnTs(FIXTURE, ['deliver'], env);
    let stderr = '';
    next.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    await until(() => deliveries().length > 0 || next.exitCode !== null, 20_000, 'a delivery');
    expect(stderr).toBe('');
    expect(deliveries()).toEqual([`4242 ${left.id}`]);
    await until(async () => (await outbox())[0].state === 'DELIVERED', 10_000, 'the outbox row DELIVERED');
    const [done] = await outbox();
    expect(Number(done.delivered)).toBeGreaterThan(0);

    // Delivered once: later polls leave it alone.
    await new Promise((r) => setTimeout(r, 300));
    expect(deliveries()).toEqual([`4242 ${left.id}`]);
  });

  test('an event whose delivery was cut short by kill -9 is delivered again, with the same event id, once its claim expires', async () => {
    const claimEnv = { ...env, DPC_EMS__OUTBOX__CLAIMMS: '500' };
    const died = await runTs(FIXTURE, ['die-in-handler'], claimEnv);
    expect(died).toMatchObject({ code: null, signal: 'SIGKILL' });
    const [left] = await outbox();
    expect(left.state).toBe('PENDING');
    expect(deliveries()).toEqual([`4242 ${left.id}`]);

    spawnTs(FIXTURE, ['deliver'], claimEnv);
    await until(async () => (await outbox())[0].state === 'DELIVERED', 20_000, 'the outbox row DELIVERED');
    // At least once: the handler saw it twice and can tell by the event id that it is a repeat.
    expect(deliveries()).toEqual([`4242 ${left.id}`, `4242 ${left.id}`]);
  });
});
