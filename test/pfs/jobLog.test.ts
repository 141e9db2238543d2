import { readdirSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import winston from 'winston';
import { readArchive } from '../../core/archive.js';
import { systemClock } from '../../core/clock.js';
import { createApp, listen } from '../../server/http.js';
import { jobLogDir } from '../../subsystems/pfs/index.js';
import { purgeJobLogs } from '../../subsystems/pfs/retention.js';
import { ended, jobsOf, operator, startHarness, type Harness } from '../fixtures/rms-harness.js';
import { until } from '../helpers/server.js';
import { apiToken, withToken } from '../helpers/auth.js';

let h: Harness;
let server: Server;
let base: string;
/** fetch as an operator of this DPC. */
let fetch: typeof globalThis.fetch;
beforeAll(async () => {
  h = await startHarness({
    env: {
      DPC_PFS__JOBLOG__FLUSHMS: '50',
      // 2 KiB per log at most: 1 KiB parts, one backup.
      DPC_PFS__LOCAL__LOGMAXKB: '1',
      DPC_PFS__LOCAL__LOGBACKUPS: '1',
      DPC_PFS__JOBLOG__SEGMENTAGEMS: '1000',
    },
  });
  server = await listen(createApp(h.dpc), '127.0.0.1', 0);
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/pfs`;
  fetch = withToken(await apiToken(h.dpc.db, h.dpc.config));
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((done) => server?.close(done));
  await h?.stop();
});

/** Starts the `logging` workflow with these jobs' data specifications (see the task `logs`). */
async function logging(jobs: Record<string, unknown>[]): Promise<{ workflowid: number; jobids: number[] }> {
  const s = await h.rms.start('logging', { params: { jobs } }, operator);
  const rows = await jobsOf(h, s.id);
  return { workflowid: s.id, jobids: rows.map((r) => Number(r.id)) };
}

async function text(path: string): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: await res.text(), headers: res.headers };
}

const lines = (body: string) => body.split('\n').filter(Boolean).map((l) => l.replace(/^\S+Z /, ''));

function bytesUnder(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n += statSync(join(e.parentPath, e.name)).size;
  return n;
}

describe('the job log store', () => {
  test('a job’s log can be read while it runs, through the API, and whole after it ended', async () => {
    const { workflowid, jobids } = await logging([{ tag: 'live', lines: 1, ms: 1500, during: 6 }]);
    const [jobid] = jobids;
    let whileRunning = '';
    await until(
      async () => {
        const [job] = await jobsOf(h, workflowid);
        if (job.status !== 'RUNNING') return false;
        whileRunning = (await text(`/jobs/${jobid}/log`)).body;
        return whileRunning.includes('live attempt 1 running 1');
      },
      10_000,
      'lines of the running job in its log',
    );
    expect(lines(whileRunning)[0]).toBe('live attempt 1 line 0');
    expect((await ended(h, workflowid)).status).toBe('SUCCESS');
    const after = await text(`/jobs/${jobid}/log`);
    expect(after.status).toBe(200);
    expect(lines(after.body)).toEqual(['live attempt 1 line 0', ...Array.from({ length: 6 }, (_, i) => `live attempt 1 running ${i}`)]);
    const [job] = await jobsOf(h, workflowid);
    expect(job.logs).toBe(`${workflowid}/${jobid}.1.log`);
  });

  test('every attempt’s log is kept, each listed with the DPCT’s log-file columns', async () => {
    const { workflowid, jobids } = await logging([{ tag: 'retried', lines: 2, until: 3 }]);
    const [jobid] = jobids;
    expect((await ended(h, workflowid)).status).toBe('SUCCESS');
    for (const attempt of [1, 2, 3]) {
      expect(lines((await text(`/jobs/${jobid}/log?attempt=${attempt}`)).body).filter((l) => l.startsWith('retried'))).toEqual([
        `retried attempt ${attempt} line 0`,
        `retried attempt ${attempt} line 1`,
      ]);
    }
    // The failed attempts' logs end with the failure the worker logged.
    expect((await text(`/jobs/${jobid}/log?attempt=1`)).body).toMatch(/FAILED: Error: attempt 1 fails on purpose/);
    const listed = (await (await fetch(`${base}/jobs/${jobid}/logs`)).json()) as { attempts: { attempt: number; filename: string; bytes: number }[]; files: Record<string, unknown>[] };
    expect(listed.attempts.map((a) => a.filename)).toEqual([1, 2, 3].map((n) => `${workflowid}/${jobid}.${n}.log`));
    expect(listed.files.map((f) => ({ ...f, jobid: Number(f.jobid), workflowid: Number(f.workflowid) }))).toMatchObject(
      [1, 2, 3].map((attempt) => ({ filename: `${workflowid}/${jobid}.${attempt}.log`, jobid, attempt, subsystem: 'pfs', taskname: 't.logs', workflowid, maxbackupnumber: 1, numberofbackup: 0 })),
    );
    expect(listed.attempts.map((a) => a.bytes)).toEqual(listed.files.map((f) => Number(f.bytes)));
    // Attempt 4 never ran.
    expect((await text(`/jobs/${jobid}/log?attempt=4`)).status).toBe(404);
  });

  test('a log past its cap (logMaxKb × (1 + logBackups)) ends with a marker and keeps no more', async () => {
    const { workflowid, jobids } = await logging([{ tag: 'big', lines: 100, bytes: 100 }]);
    expect((await ended(h, workflowid)).status).toBe('SUCCESS');
    const { body } = await text(`/jobs/${jobids[0]}/log`);
    const got = lines(body);
    expect(got.at(-1)).toMatch(/^\[DPC: this log reached its cap of 2 KiB .*later lines were dropped\]$/);
    expect(got.filter((l) => l.startsWith('big'))).toHaveLength(got.length - 1);
    expect(got.length).toBeLessThan(100);
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(2048 + 200);
    const [file] = (await (await fetch(`${base}/jobs/${jobids[0]}/logs`)).json()).files as Record<string, unknown>[];
    // Its parts of 1 KiB past the first: the DPCT's rotated backups, as many as allowed.
    expect([file.numberofbackup, file.maxbackupnumber]).toEqual([1, 1]);
  });

  test('an external program’s stdout and stderr go to its job’s log in the store', async () => {
    const s = await h.rms.start('program-both', {}, operator);
    expect((await ended(h, s.id)).status).toBe('SUCCESS');
    const [job] = await jobsOf(h, s.id);
    expect(job.logs).toBe(`${s.id}/${Number(job.id)}.1.log`);
    const got = (await text(`/jobs/${Number(job.id)}/log`)).body.split('\n').filter(Boolean);
    expect(got.sort()).toEqual(['to stderr', 'to stdout']);
  });

  test('the API serves a byte range, the tail, a download, and follows a running log until the job ends', async () => {
    const { workflowid, jobids } = await logging([{ tag: 'api', lines: 3, ms: 1200, during: 4 }]);
    const [jobid] = jobids;
    await until(async () => (await jobsOf(h, workflowid))[0].status === 'RUNNING', 10_000, 'the job RUNNING');
    const followed = await text(`/jobs/${jobid}/log?follow=1`);
    // The request ended because the job did, with every line it wrote.
    expect((await jobsOf(h, workflowid))[0].status).toBe('SUCCESS');
    expect(lines(followed.body)).toEqual([0, 1, 2].map((i) => `api attempt 1 line ${i}`).concat([0, 1, 2, 3].map((i) => `api attempt 1 running ${i}`)));

    const whole = (await text(`/jobs/${jobid}/log`)).body;
    expect(followed.body).toBe(whole);
    const range = await text(`/jobs/${jobid}/log?offset=10&length=25`);
    expect(range.body).toBe(Buffer.from(whole).subarray(10, 35).toString());
    expect(range.headers.get('x-dpc-log-bytes')).toBe(String(Buffer.byteLength(whole)));
    expect(lines((await text(`/jobs/${jobid}/log?tail=2`)).body)).toEqual(['api attempt 1 running 2', 'api attempt 1 running 3']);
    expect((await text(`/jobs/${jobid}/log?tail=100`)).body).toBe(whole);
    const download = await text(`/jobs/${jobid}/log?download=1`);
    expect(download.headers.get('content-disposition')).toBe(`attachment; filename="${jobid}.1.log"`);
    expect(download.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(download.body).toBe(whole);

    const bad = await fetch(`${base}/jobs/${jobid}/log?tail=-1`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'DPC_PFS_LOG_QUERY', message: expect.stringMatching(/tail must be a whole number/) });
    expect((await fetch(`${base}/jobs/999999/log`)).status).toBe(404);
  });

  test('a purge archives old logs with their text, deletes their segments, and the store’s bytes on disk fall', async () => {
    const { workflowid, jobids } = await logging(Array.from({ length: 50 }, (_, i) => ({ tag: `old${i}`, lines: 5, bytes: 50 })));
    expect((await ended(h, workflowid)).status).toBe('SUCCESS');
    const dir = jobLogDir(h.dpc.config);
    const before = bytesUnder(dir);
    expect(before).toBeGreaterThan(50 * 5 * 50);
    // Segments older than twice their age (1 s here) take no more lines.
    await new Promise((r) => setTimeout(r, 2100));
    const archive = join(h.t.dir, 'archive');
    const log = winston.createLogger({ transports: [new winston.transports.Console({ silent: true })] });
    const store = h.pfs.jobLogs;
    const result = await purgeJobLogs({ db: h.dpc.db, dir: archive, logDir: h.dpc.config.log.dir, store, segmentAgeMs: 1000, now: systemClock.now(), before: Date.now() + 1, batchSize: 500, log });
    expect(result.segments).toBeGreaterThan(0);
    expect(bytesUnder(dir)).toBeLessThan(before);
    expect(await store.extents(jobids[0], 1)).toEqual([]);
    const rows = (await Promise.all(result.files.map((f) => readArchive(f)))).flat();
    const row = rows.find((r) => Number(r.jobid) === jobids[7])!;
    expect(row).toMatchObject({ filename: `${workflowid}/${jobids[7]}.1.log`, attempt: 1n });
    expect(lines(String(row.content))).toEqual([0, 1, 2, 3, 4].map((i) => `old7 attempt 1 line ${i} ${'x'.repeat(50)}`));
    // Jobs keep running and logging into new segments after it.
    const next = await logging([{ tag: 'after', lines: 1 }]);
    expect((await ended(h, next.workflowid)).status).toBe('SUCCESS');
    expect(lines((await text(`/jobs/${next.jobids[0]}/log`)).body)).toEqual(['after attempt 1 line 0']);
  });
});
