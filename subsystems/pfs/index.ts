import { join, resolve } from 'node:path';
import type { Actor } from '../../core/actor.js';
import type { Context, Subsystem } from '../../core/subsystem.js';
import type { DssService } from '../dss/index.js';
import type { RmsService } from '../rms/index.js';
import type { SmasService } from '../smas/index.js';
import { Dispatcher } from './dispatcher.js';
import { pfsErrors } from './errors.js';
import { LocalExecutor } from './local/executor.js';
import { JobLogStore } from './logStore.js';
import { purgeJobLogs } from './retention.js';
import { pfsConsole, type NodeMonitor } from './pages.js';
import { pfsApi } from './routes.js';
import { assertRunjobBuilt } from './runjob.js';
import { insertPool, listPools, updatePool } from './sql/pools.js';
import type { TaskTypes } from './tasks.js';

export type { TaskType, TaskTypes, JobSpec, TaskContext, TaskFunction } from './tasks.js';
export type { NodeMonitor, MonitorRow } from './pages.js';
export { TaskTypes as TaskTypeRegistry } from './tasks.js';

export interface PoolState {
  name: string;
  state: 'OPEN' | 'DRAINED';
  changed: number;
  changed_by: string;
  reason: string | null;
}

export interface PfsService {
  /** Cores this process offers to local jobs. */
  localCores(): number;
  /** Drains a pool: no process claims its jobs until it is opened; running jobs finish. */
  drain(pool: string, who: { username: string; reason?: string }): Promise<void>;
  open(pool: string, who: { username: string; reason?: string }): Promise<void>;
  pools(): Promise<PoolState[]>;
  /** Archives the job logs last written before `before`, and deletes the segments no writer writes any more that are older. */
  purge(dir: string, before: number): Promise<number>;
  /** The job log store: a job's log by attempt, as the Logs page reads it. */
  jobLogs: JobLogStore;
  /** The Node Monitor: coordinators, pools and nodes, pool occupancy, queue depth by priority. */
  nodeMonitor(): Promise<NodeMonitor>;
}

/** Where job log segments live: pfs.jobLog.dir, or `<log.dir>/segments`. */
export function jobLogDir(config: Context['config']): string {
  return resolve(config.pfs.jobLog.dir || join(config.log.dir, 'segments'));
}

const POOL = /^[A-Za-z0-9_.-]{1,32}$/;

/** The processing framework: the executors that run jobs; for now the local one. */
export function createPfs(ctx: Context<{ rms: RmsService; dss: DssService; smas: SmasService; tasks: TaskTypes }>): Subsystem<PfsService> {
  const { config, db, clock, log, services } = ctx;
  let executor: LocalExecutor | undefined;
  let dispatcher: Dispatcher | undefined;
  let poolTimer: NodeJS.Timeout | undefined;
  const store = new JobLogStore(db, jobLogDir(config), config.pfs, clock);

  async function setPool(name: string, state: 'OPEN' | 'DRAINED', who: Actor): Promise<void> {
    if (!POOL.test(name)) throw pfsErrors.unknownPool(name);
    if (!who.reason?.trim()) throw pfsErrors.reasonRequired(state === 'DRAINED' ? 'draining a pool' : 'opening a pool');
    await db.knex.transaction(async (trx) => {
      const row = { name, state, changed: clock.now(), changed_by: who.username.slice(0, 64), reason: who.reason?.slice(0, 1000) ?? null };
      if (Number(await updatePool(trx, row)) === 0) await insertPool(trx, row);
      await services.smas.audit(trx, { ...who, action: state === 'DRAINED' ? 'pool.drain' : 'pool.open', target: `pool ${name}` });
    });
    log.info(`pool ${name} ${state === 'DRAINED' ? 'drained' : 'opened'} by ${who.username}`, { pool: name });
    await refreshPools();
  }

  async function pools(): Promise<PoolState[]> {
    return ((await listPools(db.knex, {})) as PoolState[]).map((p) => ({ ...p, changed: Number(p.changed) }));
  }

  /** Every process reads the drained pools from the database, so a drain reaches them all. */
  async function refreshPools(): Promise<void> {
    if (!dispatcher) return;
    const drained = (await pools()).some((p) => p.name === 'local' && p.state === 'DRAINED');
    if (dispatcher.drained && !drained) dispatcher.poke();
    dispatcher.drained = drained;
  }

  const service: PfsService = {
    localCores: () => executor?.threads ?? 0,
    drain: (pool, who) => setPool(pool, 'DRAINED', who),
    open: (pool, who) => setPool(pool, 'OPEN', who),
    pools,
    purge: async (dir, before) =>
      (
        await purgeJobLogs({
          db,
          dir,
          logDir: resolve(config.log.dir),
          store,
          segmentAgeMs: config.pfs.jobLog.segmentAgeMs,
          now: clock.now(),
          before,
          batchSize: config.rms.retention.batchSize,
          log,
        })
      ).archived,
    jobLogs: store,
    nodeMonitor: () => pfsPages.nodeMonitor(),
  };

  const api = pfsApi({ pools, setPool, store, rms: services.rms });
  const pfsPages = pfsConsole({ db, store, rms: services.rms, smas: services.smas, pools, setPool, localPlaces: () => executor?.threads ?? 0, now: () => clock.now() });
  api.use(pfsPages.api);

  // Why a job is not running: what this process knows of a pool (its drain, its local executor's room).
  services.rms.ops.usePoolFacts({
    pool: async (name, job) => {
      const state = (await pools()).find((p) => p.name === name);
      const drained = state?.state === 'DRAINED' ? { by: state.changed_by, since: state.changed, reason: state.reason } : null;
      if (name !== 'local' || !executor || !dispatcher) return { drained, executor: null };
      const e = executor;
      return {
        drained,
        executor: { places: e.capacity(), free: e.free(), cpuBudget: e.cpuBudget, memoryBudgetMb: e.memoryBudgetMb, waitingForRoom: dispatcher.waitingForRoom, ...e.budget(job) },
      };
    },
  });

  return {
    name: 'pfs',
    service,
    api,
    pages: {
      router: pfsPages.pages,
      menu: [
        { title: 'PFS', path: '/pfs/nodes' },
        { title: 'Logs', path: '/pfs/logs' },
      ],
    },
    async start() {
      assertRunjobBuilt();
      // Segment names carry the process: writers of every process that shares the directory never collide.
      const writer = ctx.processId.replace(/[^A-Za-z0-9_.-]/g, '_');
      executor = new LocalExecutor(config.pfs.local, services.tasks, { dir: store.dir, writer, config: config.pfs.jobLog }, join(services.dss.area('staging'), 'jobs'));
      dispatcher = new Dispatcher(services.rms, executor, config, clock, log, store, db.dialect === 'sqlite' ? 1 : 2);
      const metrics = services.smas.metrics;
      dispatcher.observer = {
        claimed: (ms, jobs) => metrics.claimed(ms, jobs),
        recorded: (outcomes) =>
          metrics.recorded(outcomes.map((o) => ({ status: o.status, tasktype: o.job.tasktype, pool: 'local', wallMs: 'wallMs' in o ? o.wallMs : undefined }))),
      };
      await refreshPools();
      dispatcher.start();
      poolTimer = setInterval(() => void refreshPools().catch(() => undefined), config.pfs.pollMs * 5);
      poolTimer.unref();
      log.info(`local executor: ${executor.threads} worker thread(s), ${executor.cpuBudget} CPU(s) and ${executor.memoryBudgetMb} MiB for jobs`);
    },
    async stop() {
      clearInterval(poolTimer);
      // Half the grace time for running jobs to end; the rest for handing back and recording.
      await dispatcher?.stop(Math.floor(config.shutdown.graceMs / 2));
      await executor?.close();
    },
    async health() {
      if (dispatcher?.drained) return { state: 'UP', detail: 'local pool DRAINED: no new jobs are taken' };
      return { state: 'UP', detail: `local executor: ${executor?.threads ?? 0} thread(s), ${executor?.runningIds().length ?? 0} job(s) running` };
    },
  };
}
