import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { SUBSYSTEM_NAMES } from '../../core/subsystem.js';
import { openDb } from '../../server/db.js';
import { testEnv, type TestEnv } from '../helpers/env.js';
import { killChildren, serveDpc, type LogLine } from '../helpers/server.js';

let t: TestEnv;
beforeEach(async () => {
  t = await testEnv();
});
afterEach(async () => {
  await killChildren();
  await t.cleanup();
});

const messages = (lines: LogLine[]) => lines.filter((l) => l.subsystem === 'server' || /^subsystem \w+ is /.test(l.message)).map((l) => l.message);

describe('a served DPC process', () => {
  test('answers /healthz and /readyz with all seven subsystems UP', async () => {
    const served = await serveDpc(t.env);
    const health = await fetch(`${served.url}healthz`);
    expect(health.status).toBe(200);
    const alive = (await health.json()) as { status: string; process: string };
    expect(alive.status).toBe('alive');
    expect(alive.process).toMatch(new RegExp(`:${served.child.pid}:`));

    const ready = await fetch(`${served.url}readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { ready: boolean; database: { client: string; reachable: boolean }; subsystems: { name: string; state: string }[] };
    expect(body.ready).toBe(true);
    expect(body.database).toMatchObject({ client: t.config.db.client, reachable: true });
    expect(body.subsystems.map((s) => s.name)).toEqual([...SUBSYSTEM_NAMES]);
    expect(body.subsystems.every((s) => s.state === 'UP')).toBe(true);
  });

  test('logs the port it really bound when asked for port 0', async () => {
    const served = await serveDpc(t.env);
    const port = Number(new URL(served.url).port);
    expect(port).toBeGreaterThan(0);
    const line = served.logLines().find((l) => l.message.startsWith('console at '));
    expect(line).toMatchObject({ level: 'info', subsystem: 'server', port, message: `console at http://127.0.0.1:${port}/` });
  });

  test('logs an IPv6 listen address in brackets, as a URL has it', async () => {
    const served = await serveDpc({ ...t.env, DPC_HTTP__HOST: '::1' });
    expect(served.url).toMatch(/^http:\/\/\[::1\]:\d+\/$/);
    expect((await fetch(`${served.url}healthz`)).status).toBe(200);
  });

  test('on SIGTERM stops its subsystems in reverse start order, then exits 0', async () => {
    const served = await serveDpc(t.env);
    expect(await served.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(served.stderr()).toBe('');

    const log = messages(served.logLines());
    const startOrder = log.map((m) => /^subsystem (\w+) is STARTING$/.exec(m)?.[1]).filter(Boolean);
    expect(startOrder).toEqual([...SUBSYSTEM_NAMES]);
    const stopping = log.slice(log.indexOf('SIGTERM received: stopping'));
    expect(stopping.length).toBeGreaterThan(1);
    const stopOrder = stopping.map((m) => /^stopping (\w+)$/.exec(m)?.[1]).filter(Boolean);
    expect(stopOrder).toEqual([...SUBSYSTEM_NAMES].reverse());
    expect(stopping.at(-1)).toBe('DPC stopped');
    expect(stopping.indexOf('DPC stopped')).toBeGreaterThan(stopping.indexOf('stopping ems'));

    // The listener closed with it.
    await expect(fetch(`${served.url}healthz`)).rejects.toThrow();
  });

  test('on SIGINT stops the same way', async () => {
    const served = await serveDpc(t.env);
    expect(await served.stop('SIGINT')).toEqual({ code: 0, signal: null });
    const log = messages(served.logLines());
    const stopping = log.slice(log.indexOf('SIGINT received: stopping'));
    expect(stopping.map((m) => /^stopping (\w+)$/.exec(m)?.[1]).filter(Boolean)).toEqual([...SUBSYSTEM_NAMES].reverse());
    expect(stopping.at(-1)).toBe('DPC stopped');
  });

  test('records in the database that it stopped, with every subsystem DOWN', async () => {
    const served = await serveDpc(t.env);
    const pid = served.child.pid;
    expect(await served.stop()).toEqual({ code: 0, signal: null });

    const db = await openDb(t.config);
    try {
      const rows = await db.knex('smas_process').select('id', 'pid', 'started', 'heartbeat', 'stopped');
      expect(rows).toHaveLength(1);
      expect(Number(rows[0].pid)).toBe(pid);
      expect(rows[0].stopped).not.toBeNull();
      expect(Number(rows[0].stopped)).toBeGreaterThanOrEqual(Number(rows[0].started));
      const states = await db.knex('smas_subsystem').where('processid', rows[0].id).select('name', 'state').orderBy('name');
      expect(states.map((s) => s.name).sort()).toEqual([...SUBSYSTEM_NAMES].sort());
      expect(states.every((s) => s.state === 'DOWN')).toBe(true);
    } finally {
      await db.knex.destroy();
    }
  });

  test('killed with SIGKILL it leaves its process row unstopped', async () => {
    const served = await serveDpc(t.env);
    expect(await served.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    const db = await openDb(t.config);
    try {
      const rows = await db.knex('smas_process').select('stopped');
      expect(rows).toEqual([{ stopped: null }]);
    } finally {
      await db.knex.destroy();
    }
  });
});
