import { hostname } from 'node:os';
import { Router } from 'express';
import type { Db } from '../../core/db.js';
import { pingSql } from '../../core/db.js';
import { messageOf } from '../../core/errors.js';
import type { Context, Health, Subsystem, SubsystemName, SubsystemState } from '../../core/subsystem.js';
import { beatProcess, insertProcess, stopProcess } from './sql/process.js';
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

export interface SmasService {
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
export function createSmas(ctx: Context): Subsystem<SmasService> {
  const { db, clock, log, processId } = ctx;
  const interval = ctx.config.smas.healthIntervalMs;
  const current = new Map<SubsystemName, StateRecord>();
  const watched = new Map<SubsystemName, () => Promise<Health>>();
  const unsaved = new Set<SubsystemName>();
  let dbStatus: DbStatus = { ok: true, since: clock.now() };
  let timer: NodeJS.Timeout | undefined;
  let checking: Promise<void> | undefined;
  let registered = false;

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
      const row = { processid: processId, name, state: record.state, detail: record.detail?.slice(0, 1000) ?? null, now: record.changed };
      await db.knex.transaction(async (trx) => {
        const updated = await updateSubsystemState(trx, row);
        if (Number(updated) === 0) await insertSubsystemState(trx, row);
      });
      unsaved.delete(name);
    }
  }

  async function checkOnce(): Promise<void> {
    const reachable = await ping(db);
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
        const h = await health();
        setState(name, h.state, h.detail);
      } catch (err) {
        setState(name, 'DEGRADED', `health check failed: ${messageOf(err)}`);
      }
    }
    if (dbStatus.ok) {
      try {
        await save();
      } catch (err) {
        log.warn('could not record subsystem states', { subsystem: 'smas', error: messageOf(err) });
      }
    }
  }

  function check(): Promise<void> {
    checking ??= checkOnce().finally(() => (checking = undefined));
    return checking;
  }

  const service: SmasService = {
    setState,
    watch: (name, health) => void watched.set(name, health),
    unwatch: (name) => void watched.delete(name),
    states: () => [...current.values()],
    db: () => dbStatus,
    check,
    clusterStates: () => clusterStates(db, clock.now(), interval),
  };

  const api = Router();
  api.get('/subsystems', async (_req, res) => {
    res.json({ process: processId, database: dbStatus, subsystems: service.states() });
  });

  return {
    name: 'smas',
    service,
    api,
    async start() {
      await save();
      timer = setInterval(() => void check(), interval);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      await checking;
    },
    async health() {
      return { state: 'UP' };
    },
  };
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
    for (const s of states) {
      const row = { processid: processId, name: s.name, state: s.state, detail: s.detail ?? null, now };
      if (Number(await updateSubsystemState(trx, row)) === 0) await insertSubsystemState(trx, row);
    }
    await stopProcess(trx, { id: processId, now });
  });
}

async function ping(db: Db): Promise<{ ok: boolean; reason?: string }> {
  try {
    await db.knex.raw(pingSql(db.dialect));
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: messageOf(err) };
  }
}
