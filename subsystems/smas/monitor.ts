import { cpus, freemem, loadavg, totalmem } from 'node:os';
import type { Logger } from 'winston';
import type { Config } from '../../config/schema.js';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import { isOutage } from '../../core/db.js';
import { messageOf } from '../../core/errors.js';
import type { DiskWatch } from './disk.js';
import type { Leases } from './leases.js';
import { poolStats, type Metrics, type QueueStats } from './metrics.js';
import { HOUR_MS, type Sample, type SampleStore } from './samples.js';

/** The duty of the samples of the whole database (its size, the queue), their roll-ups and retention. */
export const MONITOR_LEASE = 'smas.monitor';
/** The duty of a host's samples: one process a host reads it, however many run there. */
export const hostLease = (host: string) => `smas.monitor.host ${host}`.slice(0, 64);

export type SeriesGroup = 'host' | 'database' | 'queue';

/** Every series the Monitor samples: its title and unit on the page, and its group. */
export const SERIES: Record<string, { title: string; unit: string; group: SeriesGroup }> = {
  'host.load1': { title: 'CPU load (1 min)', unit: '', group: 'host' },
  'host.cpu_percent': { title: 'CPU used', unit: '%', group: 'host' },
  'host.mem_used_mb': { title: 'Memory used', unit: 'MiB', group: 'host' },
  'host.mem_free_mb': { title: 'Memory free', unit: 'MiB', group: 'host' },
  'host.disk_free_mb': { title: 'Disk free (DSS root, job log store)', unit: 'MiB', group: 'host' },
  'db.ping_ms': { title: 'Database latency (ping)', unit: 'ms', group: 'database' },
  'db.pool_used': { title: 'Database connections in use', unit: '', group: 'database' },
  'db.pool_free': { title: 'Database connections free', unit: '', group: 'database' },
  'db.size_mb': { title: 'Database size', unit: 'MiB', group: 'database' },
  'queue.jobs': { title: 'Jobs by state', unit: 'jobs', group: 'queue' },
  'queue.ended_per_s': { title: 'Jobs ended per second', unit: 'jobs/s', group: 'queue' },
  'queue.claim_ms': { title: 'Claim latency (mean)', unit: 'ms', group: 'queue' },
};

export interface MonitorOptions {
  db: Db;
  clock: Clock;
  log: Logger;
  config: Config['smas']['monitor'];
  leases: Leases;
  store: SampleStore;
  disks: DiskWatch;
  metrics: Metrics;
  host: string;
  /** The latest database ping's time, ms (SMAS's health check): undefined while none answered. */
  pingMs(): number | undefined;
}

/**
 * The Monitor's sampler. Every `smas.monitor.intervalMs`, at times that are multiples of it
 * (so that the series of every process line up): the holder of its host's lease samples the
 * host (CPU, memory, the disks' free space, its database ping, pool and claims) and watches
 * the disks' thresholds; the holder of `smas.monitor` samples the database's size and the
 * queue, remakes the roll-ups of the current hour and the last, and prunes once an hour.
 */
export class Monitor {
  /** Set by the glue once RMS exists; until then no queue series is sampled. */
  queue: QueueStats | undefined;
  private readonly disksWatched: { area: string; path: string }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  private cpuBefore: { idle: number; total: number } | undefined;
  private prunedAt = 0;
  private outageLogged = false;

  constructor(private readonly o: MonitorOptions) {}

  /** Adds a directory whose disk is sampled and watched (its area names it: `dss`, `joblog`). */
  watchDisk(area: string, path: string): void {
    if (!this.disksWatched.some((d) => d.area === area)) this.disksWatched.push({ area, path });
  }

  start(): void {
    if (!this.o.config.enabled) return;
    this.o.leases.hold(MONITOR_LEASE);
    this.o.leases.hold(hostLease(this.o.host));
    this.cpuBefore = cpuTimes();
    this.schedule();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.sampling;
  }

  /** Samples now, for the slot `now` falls in: the timer's work, and a test's. */
  sample(now = this.o.clock.now()): Promise<void> {
    this.sampling ??= this.sampleOnce(now).finally(() => (this.sampling = undefined));
    return this.sampling;
  }

  /** Deletes what is past retention: raw samples after smas.monitor.rawDays, roll-ups after retentionDays. */
  async prune(now = this.o.clock.now()): Promise<number> {
    const day = 86_400_000;
    const n = await this.o.store.prune(now - this.o.config.rawDays * day, now - this.o.config.retentionDays * day);
    if (n > 0) this.o.log.info(`monitor: pruned ${n} sample(s) older than ${this.o.config.rawDays} days`);
    return n;
  }

  private schedule(): void {
    const every = this.o.config.intervalMs;
    const wait = every - (this.o.clock.now() % every);
    this.timer = setTimeout(() => {
      void this.sample();
      if (this.timer) this.schedule();
    }, wait);
    this.timer.unref();
  }

  private async sampleOnce(now: number): Promise<void> {
    const every = this.o.config.intervalMs;
    const t = Math.floor(now / every) * every;
    try {
      if (this.o.leases.isHeld(hostLease(this.o.host))) await this.o.store.write(t, await this.hostSamples());
      if (this.o.leases.isHeld(MONITOR_LEASE)) {
        await this.o.store.write(t, await this.clusterSamples(t));
        await this.o.store.rollUp(t - HOUR_MS, t + every);
        if (now - this.prunedAt >= HOUR_MS) {
          this.prunedAt = now;
          await this.prune(now);
        }
      }
      this.outageLogged = false;
    } catch (err) {
      if (isOutage(err)) {
        if (!this.outageLogged) this.o.log.warn('monitor: sampling paused, database unreachable', { error: messageOf(err) });
        this.outageLogged = true;
      } else this.o.log.warn(`monitor: sampling failed: ${messageOf(err)}`);
    }
  }

  private async hostSamples(): Promise<Sample[]> {
    const host = { host: this.o.host };
    const out: Sample[] = [
      { name: 'host.load1', labels: host, value: loadavg()[0] },
      { name: 'host.mem_used_mb', labels: host, value: (totalmem() - freemem()) / 2 ** 20 },
      { name: 'host.mem_free_mb', labels: host, value: freemem() / 2 ** 20 },
    ];
    const cpu = cpuTimes();
    if (this.cpuBefore && cpu.total > this.cpuBefore.total) {
      out.push({ name: 'host.cpu_percent', labels: host, value: 100 * (1 - (cpu.idle - this.cpuBefore.idle) / (cpu.total - this.cpuBefore.total)) });
    }
    this.cpuBefore = cpu;
    for (const d of this.disksWatched) {
      const space = await this.o.disks.look(d.area, d.path);
      if (space) out.push({ name: 'host.disk_free_mb', labels: { ...host, area: d.area }, value: space.freeMb });
    }
    const ping = this.o.pingMs();
    if (ping !== undefined) out.push({ name: 'db.ping_ms', labels: host, value: ping });
    const pool = poolStats(this.o.db);
    out.push({ name: 'db.pool_used', labels: host, value: pool.used }, { name: 'db.pool_free', labels: host, value: pool.free });
    out.push({ name: 'queue.claim_ms', labels: host, value: this.o.metrics.takeClaimMean() });
    return out;
  }

  private async clusterSamples(t: number): Promise<Sample[]> {
    const out: Sample[] = [{ name: 'db.size_mb', labels: {}, value: (await this.o.store.databaseBytes()) / 2 ** 20 }];
    if (!this.queue) return out;
    for (const [state, n] of Object.entries(await this.queue.active())) out.push({ name: 'queue.jobs', labels: { state }, value: n ?? 0 });
    const every = this.o.config.intervalMs;
    const ended = await this.queue.ended(t - every, t);
    for (const status of ['SUCCESS', 'FAILED', 'CANCELLED']) out.push({ name: 'queue.ended_per_s', labels: { status }, value: (ended[status] ?? 0) / (every / 1000) });
    return out;
  }
}

/** Idle and total CPU time of all cores since boot, ms. */
function cpuTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const c of cpus()) {
    idle += c.times.idle;
    total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
  }
  return { idle, total };
}
