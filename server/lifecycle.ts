import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Logger } from 'winston';
import type { Config } from '../config/schema.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Db } from '../core/db.js';
import { messageOf } from '../core/errors.js';
import type { Context, Subsystem, SubsystemName } from '../core/subsystem.js';
import { migrate } from '../sql/migrate.js';
import { createDaas } from '../subsystems/daas/index.js';
import { createDss } from '../subsystems/dss/index.js';
import { createDts } from '../subsystems/dts/index.js';
import { createEms } from '../subsystems/ems/index.js';
import { createPfs, jobLogDir } from '../subsystems/pfs/index.js';
import { createRms } from '../subsystems/rms/index.js';
import { createSmas, recordStopped, type SmasService } from '../subsystems/smas/index.js';
import { migrationOptions, openDb } from './db.js';
import { loadPipelines } from './pipelines.js';
import { startRetention } from './retention.js';
import { softwareVersion } from './paths.js';

/** The running DPC of this process: what the HTTP app and the CLI act on. */
export interface Dpc {
  readonly config: Config;
  readonly db: Db;
  readonly log: Logger;
  readonly processId: string;
  /** In start order: EMS, SMAS, DSS, DTS, RMS, PFS, DAAS. */
  readonly subsystems: Subsystem[];
  readonly smas: SmasService;
  /** True from the moment every subsystem started until stop begins. */
  readonly started: boolean;
  stop(): Promise<void>;
}

/**
 * Opens the database, runs the migrations, then creates and starts the subsystems in
 * dependency order (each factory receives the services of those before it). A subsystem
 * that fails to start stops those already started, in reverse, and the error is thrown.
 */
export async function startDpc(config: Config, log: Logger, clock: Clock = systemClock): Promise<Dpc> {
  const db = await openDb(config);
  try {
    const server = log.child({ subsystem: 'server' });
    const ran = await migrate(db, { ...migrationOptions(config), log: { info: (m) => server.info(m), warn: (m) => server.warn(m) } });
    if (ran.length > 0) log.info(`migrations applied: ${ran.join(', ')}`, { subsystem: 'server' });
  } catch (err) {
    await db.knex.destroy();
    throw err;
  }
  const pipelines = await loadPipelines(config).catch(async (err: unknown) => {
    await db.knex.destroy();
    throw err;
  });
  const processId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const base = { config, db, clock, processId, version: softwareVersion };
  const child = (name: SubsystemName) => log.child({ subsystem: name });

  // SMAS needs EMS's bus and EMS audits through SMAS: the mission log's form is audited once SMAS exists, before any request.
  const ems = createEms({ ...base, log: child('ems') }, (trx, e) => smas.service.audit(trx, e));
  const ctx = <S>(name: SubsystemName, services: S): Context<S> => ({ ...base, log: child(name), bus: ems.service.bus, services });
  const smas = createSmas(ctx('smas', { ems: ems.service }));
  const dss = createDss(ctx('dss', { ems: ems.service }));
  const dts = createDts(ctx('dts', { dss: dss.service, ems: ems.service }));
  const rms = createRms(
    ctx('rms', { ems: ems.service, dss: dss.service, smas: smas.service, hasTask: (name: string) => pipelines.tasks.has(name), descriptors: pipelines.workflows }),
  );
  const pfs = createPfs(ctx('pfs', { rms: rms.service, dss: dss.service, smas: smas.service, tasks: pipelines.tasks }));
  const daas = createDaas(ctx('daas', { smas: smas.service }));
  // The Monitor and /metrics read the queue from RMS, which starts after SMAS.
  smas.service.observeQueue({
    active: async () => (await rms.service.reads.totals()).byStatus,
    ended: (from, to) => rms.service.reads.ended(from, to),
    ready: () => rms.service.reads.readyDepth(),
  });
  smas.service.monitor.watchDisk('dss', resolve(config.dss.root));
  smas.service.monitor.watchDisk('joblog', jobLogDir(config));
  const subsystems: Subsystem[] = [ems, smas, dss, dts, rms, pfs, daas];

  const started: Subsystem[] = [];
  let running = false;
  let stopping: Promise<void> | undefined;

  let retention: { stop(): Promise<void> } | undefined;

  async function stopAll(graceMs: number): Promise<void> {
    running = false;
    await retention?.stop();
    const deadline = clock.now() + graceMs;
    for (const s of [...started].reverse()) {
      smas.service.unwatch(s.name);
      log.info(`stopping ${s.name}`, { subsystem: 'server' });
      const left = Math.max(deadline - clock.now(), 0);
      const outcome = await Promise.race([
        s.stop().then(() => 'stopped' as const, (err: unknown) => messageOf(err)),
        new Promise<'late'>((done) => setTimeout(() => done('late'), left).unref()),
      ]);
      if (outcome === 'late') log.error(`${s.name} did not stop within the grace time; going on`, { subsystem: 'server' });
      else if (outcome !== 'stopped') log.error(`${s.name} failed to stop: ${outcome}`, { subsystem: 'server' });
      smas.service.setState(s.name, 'DOWN');
    }
    await recordStopped(db, processId, clock.now(), smas.service.states()).catch((err) =>
      log.warn('could not record the stop in the database', { subsystem: 'server', error: messageOf(err) }),
    );
    // A connection stuck on a frozen database would hold destroy() until TCP gives up.
    const left = Math.max(deadline - clock.now(), 1000);
    await Promise.race([db.knex.destroy(), new Promise((done) => setTimeout(done, left).unref())]);
  }

  for (const s of subsystems) {
    smas.service.setState(s.name, 'STARTING');
    try {
      await s.start();
    } catch (err) {
      log.error(`${s.name} failed to start: ${messageOf(err)}`, { subsystem: 'server' });
      smas.service.setState(s.name, 'DOWN', messageOf(err));
      await stopAll(config.shutdown.graceMs);
      throw err;
    }
    started.push(s);
    smas.service.setState(s.name, 'UP');
    smas.service.watch(s.name, () => s.health());
  }
  await smas.service.check();
  retention = startRetention(config, { smas: smas.service, dss: dss.service, pfs: pfs.service, rms: rms.service, ems: ems.service }, clock, log);
  running = true;
  log.info(`DPC started: ${subsystems.map((s) => s.name.toUpperCase()).join(', ')}`, { subsystem: 'server', process: processId });

  return {
    config,
    db,
    log,
    processId,
    subsystems,
    smas: smas.service,
    get started() {
      return running;
    },
    stop() {
      stopping ??= stopAll(config.shutdown.graceMs);
      return stopping;
    },
  };
}
