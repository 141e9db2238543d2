import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import winston from 'winston';
import { systemClock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import { Alerts } from '../../subsystems/ems/alerts.js';
import { recordEventsInMissionLog } from '../../subsystems/ems/automatic.js';
import { OutboxBus } from '../../subsystems/ems/bus.js';
import { MissionLog } from '../../subsystems/ems/missionLog.js';
import { DISK_LOW, DiskWatch, diskSpace, isLow } from '../../subsystems/smas/disk.js';
import { testDb, type TestEnv } from '../helpers/env.js';
import { until } from '../helpers/server.js';

const log = winston.createLogger({ level: 'error', transports: [new winston.transports.Console({ silent: true })] });

let t: TestEnv & { db: Db };
let bus: OutboxBus;
let alerts: Alerts;
let unsubscribe: () => void;
beforeAll(async () => {
  t = await testDb();
  bus = new OutboxBus(t.db, { ...t.config.ems.outbox, pollMs: 20 }, systemClock, log);
  alerts = new Alerts(t.db, bus, systemClock);
  unsubscribe = recordEventsInMissionLog(bus, new MissionLog(t.db, systemClock), log);
  bus.start();
});
afterAll(async () => {
  unsubscribe?.();
  await bus?.stop();
  await t?.cleanup();
});
beforeEach(async () => {
  // What an earlier test raised is delivered first: delivered later, it would be an alert of this one.
  await delivered();
  for (const table of ['ems_outbox', 'ems_alert', 'ems_mission_log']) await t.db.knex(table).delete();
});

const watch = (minFreeMb: number, minFreePercent = 0) => new DiskWatch('host1', { minFreeMb, minFreePercent }, alerts, log);
const space = (freeMb: number, totalMb = 100_000) => ({ freeMb, totalMb });

/** The alert events recorded so far, oldest first, as `topic: message`. */
async function events(): Promise<string[]> {
  const rows = (await t.db.knex('ems_outbox').select('topic', 'payload').orderBy('id')) as { topic: string; payload: string }[];
  return rows.map((r) => `${r.topic}: ${(JSON.parse(r.payload) as { message: string }).message}`);
}

/** Waits until every event recorded has been delivered. */
async function delivered(): Promise<void> {
  await until(async () => ((await t.db.knex('ems_outbox').whereNot('state', 'DELIVERED').select('id')) as unknown[]).length === 0, 10_000, 'events delivered');
}

/** The causes with an open alert (neither acknowledged nor cleared). */
async function open(): Promise<string[]> {
  return (await alerts.list())
    .filter((a) => a.cleared === null && a.state !== 'ACKED')
    .map((a) => a.dedupe ?? '')
    .sort();
}

async function alertRows() {
  return (await t.db.knex('ems_alert').select('code', 'dedupe', 'state', 'cleared', 'severity').orderBy('id')) as { code: string; dedupe: string; state: string; cleared: number | null; severity: string }[];
}

describe('the disk watch', () => {
  test('raises one alert when a disk crosses below its threshold, however often it is seen low, and clears it once when it has room again', async () => {
    const w = watch(1000);
    for (const free of [5000, 900, 800, 950, 700]) await w.check('dss', '/srv/dss', space(free));
    expect(await events()).toEqual([expect.stringMatching(/^alert\.raised: disk of dss \(\/srv\/dss\) on host1 is low: 900 MiB \(0\.9 %\) free \(smas\.monitor\.diskMinFreeMb 1000\)$/)]);
    expect(await alertRows()).toEqual([{ code: DISK_LOW, dedupe: 'disk.low host1 dss', state: 'OPEN', cleared: null, severity: 'ERROR' }]);

    // Just above the threshold is not yet room again: a disk hovering at it would flap.
    await w.check('dss', '/srv/dss', space(1050));
    expect(await events()).toHaveLength(1);
    for (const free of [1200, 3000, 1200]) await w.check('dss', '/srv/dss', space(free));
    expect((await events()).slice(1)).toEqual([expect.stringMatching(/^alert\.cleared: disk of dss \(\/srv\/dss\) on host1 has room again: 1200 MiB/)]);
    const [row] = await alertRows();
    expect(row.cleared).not.toBeNull();
    expect(await open()).toEqual([]);
    expect(await alerts.isOpen('disk.low host1 dss')).toBe(false);

    await delivered();
    const lines = (await t.db.knex('ems_mission_log').select('severity', 'message').orderBy('id')) as { severity: string; message: string }[];
    expect(lines.map((l) => l.severity)).toEqual(['ERROR', 'INFO']);
    expect(lines[0].message).toMatch(new RegExp(`^alert ${DISK_LOW} \\(\\d+\\): disk of dss`));
    expect(lines[1].message).toMatch(new RegExp(`^alert ${DISK_LOW} \\(\\d+\\) cleared: disk of dss .* has room again`));
  });

  test('a disk low again after it recovered raises a new alert; each disk of a host has its own', async () => {
    const w = watch(1000);
    for (const free of [900, 2000, 900]) await w.check('dss', '/srv/dss', space(free));
    await w.check('joblog', '/srv/log', space(10));
    expect((await events()).map((e) => e.split(':')[0])).toEqual(['alert.raised', 'alert.cleared', 'alert.raised', 'alert.raised']);
    expect(await open()).toEqual(['disk.low host1 dss', 'disk.low host1 joblog']);
  });

  test('a watch that starts while its alert is open (a restart) neither raises it again nor misses its clearing', async () => {
    await watch(1000).check('dss', '/srv/dss', space(500));
    const restarted = watch(1000);
    await restarted.check('dss', '/srv/dss', space(400));
    expect(await events()).toHaveLength(1);
    await restarted.check('dss', '/srv/dss', space(5000));
    expect((await events()).map((e) => e.split(':')[0])).toEqual(['alert.raised', 'alert.cleared']);
    expect(await open()).toEqual([]);
  });

  test('a disk still low after its alert was acknowledged raises a new one at its next crossing, not at each look', async () => {
    const w = watch(1000);
    await w.check('dss', '/srv/dss', space(500));
    await t.db.knex('ems_alert').update({ state: 'ACKED', acked: Date.now(), acked_by: 'alice' });
    await w.check('dss', '/srv/dss', space(400));
    expect(await events()).toHaveLength(1);
    // A restarted watch finds no open alert: the disk is low, so it raises one.
    await watch(1000).check('dss', '/srv/dss', space(400));
    expect((await events()).map((e) => e.split(':')[0])).toEqual(['alert.raised', 'alert.raised']);
    expect(await open()).toEqual(['disk.low host1 dss']);
  });

  test('judges the share of the disk free as well as the MiB, and watches nothing with both thresholds at 0', async () => {
    expect(isLow(space(5000, 100_000), { minFreeMb: 0, minFreePercent: 10 }, false)).toBe(true);
    expect(isLow(space(10_500, 100_000), { minFreeMb: 0, minFreePercent: 10 }, true)).toBe(true);
    expect(isLow(space(11_500, 100_000), { minFreeMb: 0, minFreePercent: 10 }, true)).toBe(false);
    expect(isLow(space(50_000, 100_000), { minFreeMb: 1000, minFreePercent: 10 }, false)).toBe(false);
    await watch(0, 0).check('dss', '/srv/dss', space(1));
    await watch(0, 2).check('joblog', '/srv/log', space(1000, 100_000));
    expect(await events()).toEqual([expect.stringMatching(/^alert\.raised: disk of joblog .* \(smas\.monitor\.diskMinFreePercent 2\)$/)]);
  });

  test('reads the free space of a real directory, or of the nearest parent of one not made yet', async () => {
    const real = diskSpace(t.dir);
    expect(real.freeMb).toBeGreaterThan(0);
    expect(real.totalMb).toBeGreaterThanOrEqual(real.freeMb);
    const later = await watch(1).look('joblog', `${t.dir}/not/made/yet`);
    expect(later?.totalMb).toBe(real.totalMb);
    expect(await events()).toEqual([]);
  });
});
