import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import winston from 'winston';
import { loadConfig } from '../../../server/config.js';
import { startDpc } from '../../../server/lifecycle.js';
import type { EmsService } from '../../../subsystems/ems/index.js';
import type { EventMap } from '../../../subsystems/ems/events.js';
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
  /** Lines each job writes to its log (0: none). */
  logLines: number;
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
const definitions = fileURLToPath(new URL(`./bench-workflows.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));
const who = { username: 'bench', reason: 'benchmark' };

/**
 * DPC's queue end to end, as a job takes it in production: the instance and its jobs are
 * created (enqueue), then the local pool is opened and every job is claimed, dispatched to a
 * worker thread, completed and counted, and the instance ends. Measured from the opening of
 * the pool to the end of the instance.
 */
export async function benchDpc(o: DpcOptions): Promise<PeerResult> {
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
  config.rms.definitions = [definitions];
  const log = winston.createLogger({ level: 'warn', transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn'] })] });
  const dpc = await startDpc(config, log);
  const rms = dpc.subsystems.find((s) => s.name === 'rms')!.service as RmsService;
  const ems = dpc.subsystems.find((s) => s.name === 'ems')!.service as EmsService;
  const pfs = dpc.subsystems.find((s) => s.name === 'pfs')!.service as PfsService;
  const workflow = o.logLines ? 'benchLog' : 'bench';
  let enqueueMs = 0;
  /** Runs an instance of `jobs` jobs; `beforeOpen` once they are queued. Returns the ms from the opening of the pool to the instance's end. */
  const runInstance = async (jobs: number, beforeOpen: () => Promise<void>) => {
    await pfs.drain('local', who);
    const t0 = performance.now();
    const started = await rms.start(workflow, { params: { jobs, lines: o.logLines } }, who);
    enqueueMs = performance.now() - t0;
    await beforeOpen();
    // The end of the instance comes as its event, after its commit: polling the instance
    // would put queries of the benchmark's own in what is measured.
    const ended = new Promise<EventMap['workflow.finished']>((resolve) => {
      ems.bus.subscribe('workflow.finished', `bench-${started.id}`, (e) => {
        if (e.workflowid === started.id) resolve(e);
      });
    });
    const t1 = performance.now();
    await pfs.open('local', who);
    const end = await ended;
    if (end.status !== 'SUCCESS') throw new Error(`the benchmark instance ended ${end.status}`);
    return performance.now() - t1;
  };
  try {
    if (o.warmupJobs) await runInstance(o.warmupJobs, async () => undefined);
    let cpu: ReturnType<typeof startCpuMeter> | undefined;
    let elu: ReturnType<typeof performance.eventLoopUtilization> | undefined;
    const runMs = await runInstance(o.jobs, async () => {
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
      enqueueMs: Math.round(enqueueMs),
      runMs: Math.round(runMs),
      jobsPerSec: Math.round(o.jobs / (runMs / 1000)),
      cpu: { process: cpuPerJob.process, postgres: o.client === 'postgresql' ? cpuPerJob.postgres : undefined },
    };
  } finally {
    await dpc.stop();
    if (o.client === 'postgresql') await withClient(PG_URL, (c) => c.query(`drop schema if exists "${o.schema ?? 'dpc_bench'}" cascade`));
    rmSync(dir, { recursive: true, force: true });
  }
}
