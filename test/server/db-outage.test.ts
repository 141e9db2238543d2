import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isOutage } from '../../core/db.js';
import { projectRoot } from '../../server/paths.js';
import { needs } from '../helpers/env.js';
import { apiTokenFor } from '../helpers/auth.js';
import { createPgCluster, pgClusterAvailable, type PgCluster } from '../helpers/pgcluster.js';

/**
 * A database outage after start-up: the server keeps running, says why it is not ready,
 * refuses writes with a 503 instead of hanging, loses nothing it accepted, and carries on
 * when the database is back. Runs on its own PostgreSQL cluster, stopped and started under
 * the running server; the shared one on 5432 is never touched.
 */
const available = needs('PostgreSQL binaries', pgClusterAvailable());

const HEALTH_MS = 300;
const CONNECT_TIMEOUT_MS = 2000;

let cluster: PgCluster | undefined;
let server: ChildProcess | undefined;
let dir: string;
let base = '';
/** An operator's API token: the API needs a signed-in user, also during the outage. */
let token = '';
let output = '';
let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (exited) throw new Error(`the server exited (${JSON.stringify(exited)}) while waiting for ${what}\n${output}`);
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms${last ? ` (${String(last)})` : ''}\n${output.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function get(path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(15_000) });
  return { status: res.status, body: await res.json() };
}

async function post(message: string): Promise<{ status: number; body: any; ms: number }> {
  const t0 = Date.now();
  const res = await fetch(`${base}/api/ems/mission-log`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ severity: 'INFO', message }),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, body: await res.json(), ms: Date.now() - t0 };
}

function logLines(): { level: string; message: string; subsystem?: string; error?: string }[] {
  return readFileSync(join(dir, 'log', 'dpc.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe('isOutage', () => {
  test("counts pg's connect timeout as an outage: a host that takes the connection and never answers", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    const client = new pg.Client({ host: '127.0.0.1', port: (silent.address() as AddressInfo).port, connectionTimeoutMillis: 200 });
    client.on('error', () => undefined);
    try {
      const err = await client.connect().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect(isOutage(err)).toBe(true);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});

describe.skipIf(!available)('a database outage under a running server', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dpc-outage-'));
    cluster = await createPgCluster();
    const env: Record<string, string> = {
      // Nothing of the caller's own DPC_* configuration: this server knows only this cluster.
      ...(Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DPC_'))) as Record<string, string>),
      DPC_DB__CLIENT: 'postgresql',
      DPC_DB__POSTGRESQL__HOST: cluster.host,
      DPC_DB__POSTGRESQL__PORT: String(cluster.port),
      DPC_DB__POSTGRESQL__USER: cluster.user,
      DPC_DB__POSTGRESQL__DATABASE: cluster.database,
      DPC_DB__POSTGRESQL__SCHEMA: 'dpc',
      DPC_DB__CONNECTTIMEOUTMS: String(CONNECT_TIMEOUT_MS),
      DPC_SMAS__HEALTHINTERVALMS: String(HEALTH_MS),
      DPC_HTTP__PORT: '0',
      DPC_LOG__DIR: join(dir, 'log'),
      DPC_LOG__CONSOLE: 'true',
      DPC_DSS__ROOT: join(dir, 'dss'),
      DPC_DSS__MINFREEMB: '0',
    };
    server = spawn(process.execPath, ['--import', 'tsx', 'server/cli.ts', 'serve'], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'], env });
    server.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    server.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    server.once('exit', (code, signal) => (exited = { code, signal }));
    base = await until('the console address', async () => output.match(/console at (http:\/\/[\d.]+:\d+)\//)?.[1], 30_000);
    token = await apiTokenFor(env);
  });

  afterAll(async () => {
    if (server && !exited) {
      const gone = new Promise((done) => server?.once('exit', done));
      server.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      if (!exited) server.kill('SIGKILL');
    }
    await cluster?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('degrades, refuses writes with 503, loses nothing and resumes on reconnect', async () => {
    const c = cluster as PgCluster;
    await until('ready', async () => ((await get('/readyz')).status === 200 ? true : undefined));
    const accepted = [await post('before the outage: one'), await post('before the outage: two')];
    for (const a of accepted) expect(a.status, JSON.stringify(a.body)).toBe(201);

    // The outage.
    await c.stop();
    const down = await until('/readyz 503 with every subsystem DEGRADED', async () => {
      const r = await get('/readyz');
      return r.status === 503 && r.body.subsystems.every((s: { state: string }) => s.state === 'DEGRADED') ? r : undefined;
    });
    expect(down.body.ready).toBe(false);
    expect(down.body.reason).toMatch(/^database unreachable: /);
    expect(down.body.database.reachable).toBe(false);
    expect(down.body.subsystems.map((s: { name: string }) => s.name).sort()).toEqual(['daas', 'dss', 'dts', 'ems', 'pfs', 'rms', 'smas']);
    for (const s of down.body.subsystems) expect(s.detail).toMatch(/^database unreachable: /);
    const smas = await get('/api/smas/subsystems');
    expect(smas.status).toBe(200);
    expect(smas.body.database.ok).toBe(false);
    expect(smas.body.subsystems.every((s: { state: string }) => s.state === 'DEGRADED')).toBe(true);
    expect((await get('/healthz')).status).toBe(200);

    const refused = await post('during the outage');
    expect(refused.status, JSON.stringify(refused.body)).toBe(503);
    expect(refused.body.error.code).toBe('DPC_DB_UNAVAILABLE');
    // Bounded by the connect timeout, not by a hang.
    expect(refused.ms).toBeLessThan(CONNECT_TIMEOUT_MS + 3000);
    const read = await get('/api/ems/mission-log');
    expect(read.status).toBe(503);
    expect(read.body.error.code).toBe('DPC_DB_UNAVAILABLE');

    // The database is back.
    await c.start();
    const up = await until('/readyz 200 with every subsystem UP', async () => {
      const r = await get('/readyz');
      return r.status === 200 && r.body.subsystems.every((s: { state: string }) => s.state === 'UP') ? r : undefined;
    });
    expect(up.body.database.reachable).toBe(true);
    const after = await post('after the outage');
    expect(after.status, JSON.stringify(after.body)).toBe(201);

    const list = await get('/api/ems/mission-log');
    expect(list.status).toBe(200);
    const entries = list.body.entries as { id: number; severity: string; message: string }[];
    expect(entries.map((e) => e.message).sort()).toEqual(['after the outage', 'before the outage: one', 'before the outage: two']);
    const ids = [...accepted, after].map((a) => a.body.id as number);
    expect(entries.map((e) => e.id).sort((a, b) => a - b)).toEqual(ids.sort((a, b) => a - b));
    for (const e of entries) expect(e.severity).toBe('INFO');

    // States were written back to the database once it answered again.
    const states = await until('subsystem states saved as UP', async () => {
      const r = await get('/api/smas/subsystems');
      return r.body.database.ok && r.body.subsystems.every((s: { state: string }) => s.state === 'UP') ? r : undefined;
    });
    expect(states.status).toBe(200);

    const lines = logLines();
    const lost = lines.findIndex((l) => l.message === 'database unreachable');
    const back = lines.findIndex((l) => l.message === 'database reachable again');
    expect(lost, output).toBeGreaterThanOrEqual(0);
    expect(lines[lost].level).toBe('error');
    expect(back).toBeGreaterThan(lost);
    expect(exited).toBeUndefined();
  });

  test('a database that stops answering without closing its connections is seen as unreachable too', async () => {
    const c = cluster as PgCluster;
    await until('ready', async () => ((await get('/readyz')).status === 200 ? true : undefined));
    const before = (await get('/api/ems/mission-log')).body.entries as { id: number; message: string }[];
    const logged = logLines().length;

    c.pause();
    let paused = true;
    try {
      // A write in flight when the database froze: it may fail or wait, but must not be lost if accepted.
      const inFlight = post('while the database is frozen');
      // The ping is bounded by the connect timeout, so the monitor notices instead of waiting with it.
      const down = await until(
        '/readyz 503 with every subsystem DEGRADED',
        async () => {
          const r = await get('/readyz');
          return r.status === 503 && r.body.subsystems.every((s: { state: string }) => s.state === 'DEGRADED') ? r : undefined;
        },
        3 * CONNECT_TIMEOUT_MS + 5 * HEALTH_MS,
      );
      expect(down.body.reason).toMatch(/^database unreachable: /);
      expect((await get('/healthz')).status).toBe(200);

      c.resume();
      paused = false;
      await until('/readyz 200 with every subsystem UP', async () => {
        const r = await get('/readyz');
        return r.status === 200 && r.body.subsystems.every((s: { state: string }) => s.state === 'UP') ? r : undefined;
      });
      const frozen = await inFlight;
      expect([201, 503], JSON.stringify(frozen.body)).toContain(frozen.status);
      const after = await post('after the freeze');
      expect(after.status, JSON.stringify(after.body)).toBe(201);

      const entries = (await get('/api/ems/mission-log')).body.entries as { id: number; message: string }[];
      const expected = [...before, ...(frozen.status === 201 ? [{ id: frozen.body.id, message: 'while the database is frozen' }] : []), { id: after.body.id, message: 'after the freeze' }];
      expect(entries.map((e) => ({ id: e.id, message: e.message })).sort((a, b) => a.id - b.id)).toEqual(
        expected.map((e) => ({ id: e.id, message: e.message })).sort((a, b) => a.id - b.id),
      );

      const lines = logLines().slice(logged);
      const lost = lines.findIndex((l) => l.message === 'database unreachable');
      expect(lost, output).toBeGreaterThanOrEqual(0);
      expect(lines.findIndex((l) => l.message === 'database reachable again')).toBeGreaterThan(lost);
      // pg's connect timeout ("timeout expired") is an outage, not a failure to report as one.
      expect(lines.filter((l) => l.message === 'outbox delivery pass failed')).toEqual([]);
      expect(exited).toBeUndefined();
    } finally {
      if (paused) c.resume();
    }
  });
});
