import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import winston from 'winston';
import { systemClock } from '../../core/clock.js';
import { OutboxBus } from '../../subsystems/ems/bus.js';
import { testDb, type TestEnv } from '../helpers/env.js';
import type { Db } from '../../core/db.js';

const silent = winston.createLogger({ silent: true });
let t: TestEnv & { db: Db };
let bus: OutboxBus;

beforeEach(async () => {
  t = await testDb();
  bus = new OutboxBus(t.db, { ...t.config.ems.outbox, pollMs: 50, backoffBaseMs: 10, backoffMaxMs: 40, maxAttempts: 3 }, systemClock, silent);
});
afterEach(async () => {
  await bus.stop();
  await t.cleanup();
});

async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the EMS bus', () => {
  test('delivers a published event after its transaction commits', async () => {
    const seen: number[] = [];
    bus.subscribe('dataset.updated', 'test', (p) => void seen.push(p.datasetid));
    bus.start();
    await t.db.knex.transaction(async (trx) => {
      await bus.publish(trx, 'dataset.updated', { datasetid: 7, dmtype: 'AstroObs' });
      expect(seen).toEqual([]);
    });
    await until(() => seen.length === 1);
    const [row] = await t.db.knex('ems_outbox').select('state', 'delivered');
    expect(row.state).toBe('DELIVERED');
    expect(Number(row.delivered)).toBeGreaterThan(0);
  });

  test('discards an event whose transaction rolls back', async () => {
    const seen: number[] = [];
    bus.subscribe('dataset.updated', 'test', (p) => void seen.push(p.datasetid));
    bus.start();
    await expect(
      t.db.knex.transaction(async (trx) => {
        await bus.publish(trx, 'dataset.updated', { datasetid: 8, dmtype: 'AstroObs' });
        throw new Error('the fact failed');
      }),
    ).rejects.toThrow('the fact failed');
    await bus.idle();
    expect(seen).toEqual([]);
    expect(await t.db.knex('ems_outbox').count({ n: '*' })).toEqual([{ n: 0 }]);
  });

  test('retries a failing handler with backoff and delivers once it succeeds', async () => {
    const attempts: number[] = [];
    bus.subscribe('node.down', 'flaky', (_p, d) => {
      attempts.push(d.attempt);
      if (d.attempt < 3) throw new Error('webhook unreachable');
    });
    bus.start();
    await t.db.knex.transaction((trx) => bus.publish(trx, 'node.down', { nodeid: 1, name: 'pr1', reason: 'no heartbeat' }));
    await until(async () => (await t.db.knex('ems_outbox').first('state')).state === 'DELIVERED');
    expect(attempts).toEqual([1, 2, 3]);
  });

  test('marks an event FAILED with its last error once its attempts are spent', async () => {
    bus.subscribe('node.down', 'broken', () => {
      throw new Error('smtp refused');
    });
    bus.start();
    await t.db.knex.transaction((trx) => bus.publish(trx, 'node.down', { nodeid: 1, name: 'pr1', reason: 'no heartbeat' }));
    await until(async () => (await t.db.knex('ems_outbox').first('state')).state === 'FAILED');
    const row = await t.db.knex('ems_outbox').first('attempts', 'last_error');
    expect(Number(row.attempts)).toBe(3);
    expect(row.last_error).toBe('smtp refused');
  });

  test('delivers events left in the outbox by an earlier process when it starts', async () => {
    await t.db.knex.transaction((trx) => bus.publish(trx, 'workflow.failed', { workflowid: 3, name: 'daily', reason: 'x' }));
    // No handler yet and not started: the event waits, as after a crash.
    await bus.stop();
    const later = new OutboxBus(t.db, { ...t.config.ems.outbox, pollMs: 50 }, systemClock, silent);
    const seen: number[] = [];
    later.subscribe('workflow.failed', 'test', (p) => void seen.push(p.workflowid));
    later.start();
    await until(() => seen.length === 1);
    await later.stop();
    expect(seen).toEqual([3]);
  });
});
