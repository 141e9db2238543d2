import { hostname } from 'node:os';
import type { Knex } from 'knex';
import type { Db } from '../../core/db.js';
import { pingSql } from '../../core/db.js';
import { messageOf } from '../../core/errors.js';
import type { Context, Health, Subsystem, SubsystemName, SubsystemState } from '../../core/subsystem.js';
import type { Config } from '../../config/schema.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { EmsService } from '../ems/index.js';
import { Accounts } from './accounts.js';
import { createAuth, type SmasHttp } from './auth.js';
import { DiskWatch } from './disk.js';
import { ensureFirstAdmin } from './firstAdmin.js';
import { Leases } from './leases.js';
import { Metrics, type QueueStats } from './metrics.js';
import { Monitor } from './monitor.js';
import { smasApi, smasPages } from './routes.js';
import { SampleStore } from './samples.js';
import { beatProcess, insertProcess, listProcesses, stopProcess } from './sql/process.js';
import { insertSubsystemState, listSubsystemStates, updateSubsystemState } from './sql/subsystemState.js';

export interface StateRecord {
  name: SubsystemName;
  state: SubsystemState;
  detail?: string;
  changed: number;
}

export interface DbStatus {
  ok: boolean;
  reason?: string;
  since: number;
}

export type { Duty, Leases } from './leases.js';
export type { Accounts, AccountView } from './accounts.js';
export type { SmasHttp } from './auth.js';
export { CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, requiredRole, safeNext } from './auth.js';
export { firstAdminFile, FIRST_ADMIN } from './firstAdmin.js';
export type { EndedJob, Metrics, QueueStats } from './metrics.js';
export { requireMetricsToken } from './metrics.js';
export type { Monitor } from './monitor.js';
export { smasErrors } from './errors.js';
export { randomPassword } from './passwords.js';

/** One state-changing action of an operator: who, when, on what, and why (ARCHITECTURE §8). */
export interface AuditEntry {
  username: string;
  action: string;
  target?: string;
  reason?: string;
  detail?: unknown;
  address?: string;
}

export interface SmasService {
  /** Once-only duties held through leases in the database. */
  leases: Leases;
  /** Sign-in, sessions, API tokens, roles and CSRF for the HTTP app (server/http.ts puts them in front of every route). */
  http: SmasHttp;
  /** Records an action in smas_audit, in the transaction of the change it records. */
  audit(trx: Knex | Knex.Transaction, entry: AuditEntry): Promise<void>;
  /** Records a subsystem's state: logged at once, written to smas_subsystem when the database answers. */
  setState(name: SubsystemName, state: SubsystemState, detail?: string): void;
  /** Puts a started subsystem under the health monitor. */
  watch(name: SubsystemName, health: () => Promise<Health>): void;
  /** Takes a subsystem off the monitor before it stops. */
  unwatch(name: SubsystemName): void;
  states(): StateRecord[];
  db(): DbStatus;
  /** Checks the database and every watched subsystem now, instead of at the next tick. */
  check(): Promise<void>;
  /** Subsystem states of every live process sharing the database (from smas_subsystem). */
  clusterStates(): Promise<ClusterState[]>;
  /** This process's Prometheus metrics: PFS records job outcomes and claims in it, the HTTP app its requests. */
  metrics: Metrics;
  /** The Monitor's sampler: the glue adds the disks to watch. */
  monitor: Monitor;
  /** Gives the Monitor and the metrics the queue's figures (from RMS, which starts after SMAS). */
  observeQueue(stats: QueueStats): void;
  /** The processes sharing the database that beat since `since`: UP while they beat lately and did not stop. */
  processes(since: number): Promise<ProcessRecord[]>;
}

export interface ProcessRecord {
  id: string;
  hostname: string;
  pid: number;
  version: string;
  started: number;
  heartbeat: number;
  stopped: number | null;
  state: 'UP' | 'DOWN';
}

export interface ClusterState {
  processid: string;
  hostname: string;
  pid: number;
  name: string;
  state: string;
  detail: string | null;
  changed: number;
}

/** A process is counted live while it beat within this many health intervals. */
const LIVE_INTERVALS = 3;

/**
 * SMAS watches the health of this process: the database (a ping each interval), and each
 * subsystem's own health. While the database is unreachable every subsystem is DEGRADED
 * with that reason and the process keeps running; states are written when it is back.
 */
export function createSmas(ctx: Context<{ ems: EmsService }>): Subsystem<SmasService> {
  const { db, clock, log, processId } = ctx;
  const interval = ctx.config.smas.healthIntervalMs;
  const current = new Map<SubsystemName, StateRecord>();
  const watched = new Map<SubsystemName, () => Promise<Health>>();
  const unsaved = new Set<SubsystemName>();
  let dbStatus: DbStatus = { ok: true, since: clock.now() };
  let timer: NodeJS.Timeout | undefined;
  let checking: Promise<void> | undefined;
  let saving: Promise<void> | undefined;
  let registered = false;
  // A database that stops answering without closing its connections (a frozen host, a
  // network that drops packets) would leave the ping, a health check or a write waiting for
  // TCP to give up (many minutes), and the monitor with them: /readyz would say ready all
  // along. So every step of a check is bounded by the connect timeout.
  const answerMs = ctx.config.db.connectTimeoutMs;
  let pingMs: number | undefined;

  function setState(name: SubsystemName, state: SubsystemState, detail?: string): void {
    const before = current.get(name);
    if (before && before.state === state && before.detail === detail) return;
    current.set(name, { name, state, detail, changed: before?.state === state ? before.changed : clock.now() });
    unsaved.add(name);
    if (before?.state === state) return;
    const fields = { subsystem: name, ...(detail ? { detail } : {}) };
    if (state === 'DEGRADED') log.warn(`subsystem ${name} is DEGRADED`, fields);
    else log.info(`subsystem ${name} is ${state}`, fields);
    ctx.bus.notify('subsystem.state', { subsystem: name, state, detail });
  }

  async function save(): Promise<void> {
    if (!registered) {
      await insertProcess(db.knex, { id: processId, hostname: hostname(), pid: process.pid, version: ctx.version, now: clock.now() });
      registered = true;
    } else await beatProcess(db.knex, { id: processId, now: clock.now() });
    for (const name of [...unsaved]) {
      const record = current.get(name);
      if (!record) continue;
      await db.knex.transaction((trx) => writeState(trx, processId, record, record.changed));
      unsaved.delete(name);
    }
  }

  async function checkOnce(): Promise<void> {
    const began = performance.now();
    const reachable = await ping(db, answerMs);
    if (reachable.ok) {
      pingMs = performance.now() - began;
      metrics.pinged(pingMs);
    }
    if (reachable.ok !== dbStatus.ok) {
      dbStatus = { ...reachable, since: clock.now() };
      if (reachable.ok) log.info('database reachable again', { subsystem: 'smas' });
      else log.error('database unreachable', { subsystem: 'smas', error: reachable.reason });
    } else if (!reachable.ok) dbStatus = { ...dbStatus, reason: reachable.reason };
    for (const [name, health] of watched) {
      if (!dbStatus.ok) {
        setState(name, 'DEGRADED', `database unreachable: ${dbStatus.reason}`);
        continue;
      }
      try {
        const h = await within(health(), answerMs, `no answer within ${answerMs} ms`);
        setState(name, h.state, h.detail);
      } catch (err) {
        setState(name, 'DEGRADED', `health check failed: ${messageOf(err)}`);
      }
    }
    // One save at a time, awaited only as long as a ping: a write caught by the database
    // freezing must not hold the monitor. A later check saves what is left.
    if (dbStatus.ok && !saving) {
      const saved = save()
        .catch((err: unknown) => void log.warn('could not record subsystem states', { subsystem: 'smas', error: messageOf(err) }))
        .finally(() => (saving = undefined));
      saving = saved;
      await within(saved, answerMs, 'slow').catch(() => undefined);
    }
  }

  function check(): Promise<void> {
    checking ??= checkOnce().finally(() => (checking = undefined));
    return checking;
  }

  const leases = new Leases(db, processId, ctx.config.smas.leaseMs, clock, log);
  const metrics = new Metrics(db, answerMs);
  const store = new SampleStore(db, clock);
  const monitorConfig = ctx.config.smas.monitor;
  const thresholds = { minFreeMb: monitorConfig.diskMinFreeMb, minFreePercent: monitorConfig.diskMinFreePercent };
  const disks = new DiskWatch(hostname(), thresholds, ctx.services.ems.alerts, log);
  const monitor = new Monitor({ db, clock, log, config: monitorConfig, leases, store, disks, metrics, host: hostname(), pingMs: () => pingMs });
  const accounts = openAccounts(db, ctx.config, clock);
  const http = createAuth(accounts, ctx.config, log);
  const service: SmasService = {
    leases,
    http,
    audit: (trx, e) => accounts.audit(trx, e),
    setState,
    watch: (name, health) => void watched.set(name, health),
    unwatch: (name) => void watched.delete(name),
    states: () => [...current.values()],
    db: () => dbStatus,
    check,
    clusterStates: () => clusterStates(db, clock.now(), interval),
    metrics,
    monitor,
    observeQueue: (stats) => {
      metrics.queue = stats;
      monitor.queue = stats;
    },
    processes: async (since) => {
      const live = clock.now() - LIVE_INTERVALS * interval;
      return ((await listProcesses(db.knex, { since })) as Record<string, unknown>[]).map((r) => {
        const p = { id: String(r.id), hostname: String(r.hostname), pid: Number(r.pid), version: String(r.version), started: Number(r.started), heartbeat: Number(r.heartbeat), stopped: r.stopped === null ? null : Number(r.stopped) };
        return { ...p, state: p.stopped === null && p.heartbeat >= live ? 'UP' : 'DOWN' };
      });
    },
  };

  return {
    name: 'smas',
    service,
    api: smasApi({ processId, service, accounts, http, db, store, monitor: monitorConfig }),
    pages: {
      router: smasPages({ processId, service, accounts, http, db, store, monitor: monitorConfig }),
      menu: [
        { title: 'Monitor', path: '/smas/monitor' },
        { title: 'Audit', path: '/smas/audit' },
        { title: 'Users', path: '/smas/users', role: 'admin' },
      ],
    },
    async start() {
      await save();
      await ensureFirstAdmin(accounts, ctx.config, log);
      timer = setInterval(() => void check(), interval);
      timer.unref();
      monitor.start();
      await leases.start();
    },
    async stop() {
      await monitor.stop();
      await leases.stop();
      clearInterval(timer);
      await checking;
      await saving;
    },
    async health() {
      return { state: 'UP' };
    },
  };
}

/** The accounts of a database, for the server and for the bootstrap commands of `dpc user`. */
export function openAccounts(db: Db, config: Config, clock: Clock = systemClock): Accounts {
  return new Accounts(db, clock, config.smas.session, config.smas.signin);
}

/** Subsystem states of every process sharing the database that beat lately and did not stop. */
export async function clusterStates(db: Db, now: number, healthIntervalMs: number): Promise<ClusterState[]> {
  const rows = (await listSubsystemStates(db.knex, { since: now - LIVE_INTERVALS * healthIntervalMs })) as (ClusterState & {
    stopped: number | null;
  })[];
  return rows.filter((r) => r.stopped === null).map(({ stopped: _stopped, ...r }) => ({ ...r, changed: Number(r.changed) }));
}

/** Marks the process stopped in smas_process and saves final states; best effort at exit. */
export async function recordStopped(db: Db, processId: string, now: number, states: StateRecord[]): Promise<void> {
  await db.knex.transaction(async (trx) => {
    for (const s of states) await writeState(trx, processId, s, now);
    await stopProcess(trx, { id: processId, now });
  });
}

/** Upsert as update-then-insert: the one form that reads the same on all three dialects. */
async function writeState(trx: Knex.Transaction, processId: string, record: StateRecord, now: number): Promise<void> {
  const row = { processid: processId, name: record.name, state: record.state, detail: record.detail?.slice(0, 1000) ?? null, now };
  if (Number(await updateSubsystemState(trx, row)) === 0) await insertSubsystemState(trx, row);
}

async function ping(db: Db, timeoutMs: number): Promise<{ ok: boolean; reason?: string }> {
  try {
    // Knex's query timeout also marks the connection for disposal, so a connection to a
    // database that stopped answering is not handed out again.
    await db.knex.raw(pingSql(db.dialect)).timeout(timeoutMs);
    return { ok: true };
  } catch (err) {
    // Knex's own words for its two timeouts ("the pool is probably full", "defined query
    // timeout") would send an operator after the wrong problem.
    if (err instanceof Error && err.name === 'KnexTimeoutError') {
      const connecting = /acquiring a connection/i.test(err.message);
      return { ok: false, reason: connecting ? `no connection within ${timeoutMs} ms` : `no answer within ${timeoutMs} ms` };
    }
    return { ok: false, reason: messageOf(err) };
  }
}

/** The promise's outcome, or a rejection with `message` if it takes longer than `ms` (0: no bound). */
function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  if (ms <= 0) return promise;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
