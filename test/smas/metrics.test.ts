import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { HELD_POOL } from '../fixtures/rms-workflows.js';
import { ended, operator } from '../fixtures/rms-harness.js';
import { startConsole, type ConsoleUnderTest } from '../helpers/console.js';

const TOKEN = 'scrape-me-7f3a';

/** The console with an operator signed in: /metrics itself is scraped without a session. */
const serve = (env: Record<string, string>) => startConsole({ env });

let app: ConsoleUnderTest;
beforeAll(async () => {
  app = await serve({ DPC_SMAS__METRICS__TOKEN: TOKEN });
});
afterAll(async () => {
  await app?.close();
});

async function scrape(headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }, base = app.base) {
  const res = await fetch(`${base}/metrics`, { headers });
  return { status: res.status, type: res.headers.get('content-type') ?? '', auth: res.headers.get('www-authenticate'), text: await res.text() };
}

/** The value of one sample line of the exposition, e.g. `dpc_jobs{state="READY"}`; undefined when absent. */
function value(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

describe('/metrics', () => {
  test('refuses a scrape without the bearer token, or with another, and says how to send it', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer ${TOKEN}x` }] as Record<string, string>[]) {
      const res = await scrape(headers);
      expect(res.status).toBe(401);
      expect(res.auth).toBe('Bearer realm="dpc-metrics"');
      expect(JSON.parse(res.text).error).toEqual({ code: 'DPC_SMAS_METRICS_TOKEN', message: expect.stringContaining('Authorization: Bearer <token>') });
      expect(res.text).not.toContain(TOKEN);
    }
  });

  test('with the token, exposes the queue, job durations, claims, HTTP latency, the database pool and the process, as a workflow ran them', async () => {
    const { h } = app;
    const s = await h.rms.start('dag', { params: { file: join(h.t.dir, 'dag.txt'), n: 3 } }, operator);
    expect((await ended(h, s.id)).status).toBe('SUCCESS');
    const held = await h.rms.start('held', {}, operator);
    expect(held.jobs).toBe(3);
    expect((await app.fetch(`${app.base}/api/rms/workflows/${s.id}`)).status).toBe(200);

    const res = await scrape();
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = res.text;
    // The dag's six jobs, recorded by this process's dispatcher.
    expect(value(m, 'dpc_jobs_ended_total{status="SUCCESS",pool="local"}')).toBe(6);
    expect(value(m, 'dpc_job_duration_seconds_count{status="SUCCESS",tasktype="t.append"}')).toBe(6);
    expect(value(m, 'dpc_job_duration_seconds_bucket{le="+Inf",status="SUCCESS",tasktype="t.append"}')).toBe(6);
    expect(value(m, 'dpc_claimed_jobs_total')).toBeGreaterThanOrEqual(6);
    expect(value(m, 'dpc_claim_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    // The held workflow's jobs wait in a pool no dispatcher serves: READY, three deep at priority 0.
    expect(value(m, 'dpc_jobs{state="READY"}')).toBe(3);
    expect(value(m, 'dpc_jobs{state="RUNNING"}')).toBe(0);
    expect(value(m, `dpc_queue_ready_jobs{pool="${HELD_POOL}",priority="0"}`)).toBe(3);
    expect(value(m, 'dpc_http_request_duration_seconds_count{method="GET",route="/api/rms/workflows/:id",status="200"}')).toBe(1);
    expect(m).toMatch(/^dpc_db_pool_connections\{state="used"\} \d+$/m);
    expect(value(m, 'dpc_db_pool_max')).toBeGreaterThanOrEqual(1);
    expect(value(m, 'dpc_db_ping_seconds')).toBeGreaterThan(0);
    expect(value(m, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(m).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(m).toContain('# HELP dpc_jobs Jobs in each active state');
  });

  test('labels requests by their route, not their URL, so random URLs add no series', async () => {
    for (const path of ['/no/such/page/1', '/no/such/page/2', '/static/dpc.css']) await app.fetch(app.base + path);
    const m = (await scrape()).text;
    expect(m).not.toContain('/no/such/page');
    expect(value(m, 'dpc_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}')).toBe(2);
    expect(value(m, 'dpc_http_request_duration_seconds_count{method="GET",route="/static",status="200"}')).toBe(1);
  });
});

describe('/metrics without a configured token', () => {
  test('is disabled, and says which setting turns it on', async () => {
    const off = await serve({});
    try {
      for (const headers of [{}, { authorization: 'Bearer anything' }, { authorization: 'Bearer ' }] as Record<string, string>[]) {
        const res = await scrape(headers, off.base);
        expect(res.status).toBe(404);
        expect(JSON.parse(res.text).error).toEqual({ code: 'DPC_SMAS_METRICS_OFF', message: expect.stringContaining('set smas.metrics.token') });
      }
    } finally {
      await off.close();
    }
  });
});
