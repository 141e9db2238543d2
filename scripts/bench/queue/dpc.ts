import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import winston from 'winston';
import { loadConfig } from '../../../server/config.js';
import { startDpc } from '../../../server/lifecycle.js';
import type { EmsService } from '../../../subsystems/ems/index.js';
import type { EventMap } from '../../../core/bus.js';
import type { PfsService } from '../../../subsystems/pfs/index.js';
import type { RmsService } from '../../../subsystems/rms/index.js';
import { startCpuMeter } from './cpu.js';
import { analyzeSchema, type PeerResult, withClient } from './peers.js';

export interface DpcOptions {
  client: 'sqlite' | 'postgresql';
  /** PostgreSQL schema to create and drop (PostgreSQL only). */
  schema?: string;
  jobs: number;
  /** Worker threads of the local executor. */
  concurrency: number;
  /** Log lines each job writes: 0, 1 or 100. */
  logLines: number;
  /** Workflows the jobs are shared between, each created on its own and all run at once (default 1). */
  workflows?: number;
  /** pfs.jobLog.fsync (default: the configured one). */
  fsync?: 'batch' | 'none';
  /**
   * Jobs run untimed first, by the same server: its worker threads are new, and each
   * compiles its code anew, as the main thread did in the run before (default none).
   */
  warmupJobs?: number;
}

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
// Run as built JavaScript (`npm run bench:queue`), as production runs; from source under tsx too.
const descriptors = fileURLToPath(new URL(`./bench-workflows.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));
const who = { username: 'bench', reason: 'benchmark' };

/** The workflow of bench-workflows.ts whose jobs write so many log lines. */
const WORKFLOW_OF_LOG_LINES: Record<number, string> = { 0: 'bench', 1: 'benchLog', 100: 'benchLog' };

/** Starts a DPC in this process on a fresh database, its local pool of `concurrency` threads. */
async function startBenchDpc(o: { client: 'sqlite' | 'postgresql'; schema?: string; concurrency: number; fsync?: 'batch' | 'none' }) {
  const dir = mkdtempSync(join(tmpdir(), 'dpc-bench-'));
  const env: Record<string, string> = {
    DPC_DB__CLIENT: o.client,
    DPC_DB__SQLITE__PATH: join(dir, 'dpc.sqlite'),
    DPC_DB__POSTGRESQL__USER: 'postgres',
    DPC_DB__POSTGRESQL__DATABASE: 'test',
    DPC_DB__POSTGRESQL__SCHEMA: o.schema ?? 'dpc_bench',
    DPC_LOG__DIR: join(dir, 'log'),
    DPC_LOG__CONSOLE: 'false',
    DPC_LOG__LEVEL: 'warn',
    DPC_DSS__ROOT: join(dir, 'dss'),
    DPC_DSS__MINFREEMB: '0',
    DPC_RMS__DEMO: 'false',
    DPC_PFS__LOCAL__THREADS: String(o.concurrency),
    ...(o.fsync ? { DPC_PFS__JOBLOG__FSYNC: o.fsync } : {}),
  };
  const config = loadConfig({ env });
  config.rms.descriptors = [descriptors];
  const log = winston.createLogger({ level: 'warn', transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn'] })] });
  const dpc = await startDpc(config, log);
  return {
    rms: dpc.subsystems.find((s) => s.name === 'rms')!.service as RmsService,
    ems: dpc.subsystems.find((s) => s.name === 'ems')!.service as EmsService,
    pfs: dpc.subsystems.find((s) => s.name === 'pfs')!.service as PfsService,
    async stop() {
      await dpc.stop();
      if (o.client === 'postgresql') await withClient(PG_URL, (c) => c.query(`drop schema if exists "${o.schema ?? 'dpc_bench'}" cascade`));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * DPC's queue end to end, as a job takes it in production: the workflows and their jobs are
 * created with the local pool closed (create ms), then the pool is opened and every job is
 * claimed, dispatched to a worker thread, completed and counted, and the workflows end (run
 * ms, from the opening of the pool to the last workflow's end).
 */
export async function benchDpc(o: DpcOptions): Promise<PeerResult> {
  const { rms, ems, pfs, stop } = await startBenchDpc(o);
  const workflow = WORKFLOW_OF_LOG_LINES[o.logLines];
  if (!workflow) throw new Error(`no benchmark workflow writes ${o.logLines} log lines per job`);
  const workflows = o.workflows ?? 1;
  let createMs = 0;
  /** Runs `jobs` jobs in `workflows` workflows; `beforeOpen` once they are queued. Returns the ms from the opening of the pool to the last workflow's end. */
  const runWorkflow = async (jobs: number, beforeOpen: () => Promise<void>) => {
    await pfs.drain('local', who);
    const ids = new Set<number>();
    // The ends come as events, after their commit: polling the workflows would put queries
    // of the benchmark's own in what is measured.
    let left = workflows;
    let ended!: () => void;
    let failed: ((err: Error) => void) | undefined;
    const allEnded = new Promise<void>((resolve, reject) => ((ended = resolve), (failed = reject)));
    const unsubscribe = ems.bus.subscribe('workflow.finished', `bench-${process.hrtime.bigint()}`, (e: EventMap['workflow.finished']) => {
      if (!ids.has(e.workflowid)) return;
      if (e.status !== 'SUCCESS') failed?.(new Error(`a benchmark workflow ended ${e.status}`));
      else if (--left === 0) ended();
    });
    const t0 = performance.now();
    for (let i = 0; i < workflows; i++) {
      const share = Math.floor(jobs / workflows) + (i < jobs % workflows ? 1 : 0);
      ids.add((await rms.start(workflow, { params: { jobs: share, lines: o.logLines } }, who)).id);
    }
    createMs = performance.now() - t0;
    await beforeOpen();
    const t1 = performance.now();
    await pfs.open('local', who);
    await allEnded;
    const runMs = performance.now() - t1;
    unsubscribe();
    return runMs;
  };
  try {
    if (o.warmupJobs) await runWorkflow(o.warmupJobs, async () => undefined);
    let cpu: ReturnType<typeof startCpuMeter> | undefined;
    let elu: ReturnType<typeof performance.eventLoopUtilization> | undefined;
    const runMs = await runWorkflow(o.jobs, async () => {
      // Untimed, as the peers do: a fresh schema has no planner statistics yet.
      if (o.client === 'postgresql') await withClient(PG_URL, (c) => analyzeSchema(c, o.schema ?? 'dpc_bench'));
      cpu = startCpuMeter();
      elu = performance.eventLoopUtilization();
    });
    const cpuPerJob = cpu!(o.jobs);
    // How much of the run the main thread worked (claims, writes, dispatch): the rest it waited on the database or threads.
    const busy = Math.round(performance.eventLoopUtilization(elu).utilization * 100);
    return {
      peer: `DPC (${o.client})`,
      mode: `${o.logLines === 0 ? 'no log lines' : `${o.logLines} log line(s)/job${o.fsync ? `, fsync ${o.fsync}` : ''}`}, main thread busy ${busy} %`,
      concurrency: o.concurrency,
      jobs: o.jobs,
      createMs: Math.round(createMs),
      runMs: Math.round(runMs),
      jobsPerSec: Math.round(o.jobs / (runMs / 1000)),
      cpu: { process: cpuPerJob.process, postgres: o.client === 'postgresql' ? cpuPerJob.postgres : undefined },
    };
  } finally {
    await stop();
  }
}

export interface BackfillClaims {
  database: 'sqlite' | 'postgresql';
  days: number;
  jobs: number;
  createMs: number;
  /** Claims of the other workflow's jobs made while the backfill was being created. */
  claims: number;
  claimMs: { p50: number; p99: number; max: number };
}

/**
 * The claims of another workflow while a backfill is created: a workflow of `otherJobs`
 * jobs is queued first, then a backfill of `days` workflows of `jobsPerDay` jobs is created
 * while a claimer takes the other workflow's jobs ten at a time, through the queue's claim
 * as a dispatcher calls it (the local pool closed, so that only the claimer claims).
 */
export async function benchBackfillClaims(o: { client: 'sqlite' | 'postgresql'; schema?: string; days: number; jobsPerDay: number; otherJobs: number }): Promise<BackfillClaims> {
  const { rms, pfs, stop } = await startBenchDpc({ ...o, concurrency: 1 });
  try {
    await pfs.drain('local', who);
    const other = await rms.start('bench', { params: { jobs: o.otherJobs } }, who);
    const from = new Date(Date.UTC(2026, 0, 1));
    const to = new Date(from.getTime() + (o.days - 1) * 86_400_000);
    let creating = true;
    const latencies: number[] = [];
    const claimer = (async () => {
      while (creating) {
        const t = performance.now();
        const claimed = await rms.queue.claim('local', 10);
        latencies.push(performance.now() - t);
        if (claimed.length === 0 || claimed.some((j) => j.workflowid !== other.id)) throw new Error('the other workflow ran out of jobs before the backfill was created: raise otherJobs');
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const t0 = performance.now();
    const made = await rms.backfill('bench', from.toISOString().slice(0, 10), to.toISOString().slice(0, 10), who, { jobs: o.jobsPerDay });
    const createMs = performance.now() - t0;
    creating = false;
    await claimer;
    if (made.length !== o.days) throw new Error(`the backfill created ${made.length} workflows of ${o.days}`);
    latencies.sort((a, b) => a - b);
    const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] * 10) / 10;
    return { database: o.client, days: o.days, jobs: o.days * o.jobsPerDay, createMs: Math.round(createMs), claims: latencies.length, claimMs: { p50: at(0.5), p99: at(0.99), max: at(1) } };
  } finally {
    await stop();
  }
}
