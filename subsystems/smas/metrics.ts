import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../../core/db.js';
import { smasErrors } from './errors.js';

/** What the queue says of itself, read from RMS by the glue that starts the subsystems. */
export interface QueueStats {
  /** Jobs in each active state (WAITING, READY, CLAIMED, RUNNING, RETRY_WAIT), over every instance. */
  active(): Promise<Partial<Record<string, number>>>;
  /** Jobs that ended in [from, to), by final state. */
  ended(from: number, to: number): Promise<Partial<Record<string, number>>>;
  /** READY jobs by pool and priority. */
  ready(): Promise<{ pool: string; priority: number; jobs: number }[]>;
}

/** A job whose outcome PFS recorded. */
export interface EndedJob {
  status: string;
  tasktype: string;
  pool: string;
  wallMs?: number;
}

interface PoolStats {
  used: number;
  free: number;
  pending: number;
  max: number;
}

/** The Knex pool's connections (tarn.js), as far as the client exposes them. */
export function poolStats(db: Db): PoolStats {
  const pool = (db.knex.client as { pool?: { numUsed(): number; numFree(): number; numPendingAcquires(): number; max: number } }).pool;
  if (!pool) return { used: 0, free: 0, pending: 0, max: 0 };
  return { used: pool.numUsed(), free: pool.numFree(), pending: pool.numPendingAcquires(), max: pool.max };
}

/** Seconds, from milliseconds. */
const s = (ms: number) => ms / 1000;

/**
 * This process's Prometheus metrics (docs/monitoring.md has the list): what it observes
 * itself (job outcomes it recorded, its claims, its HTTP requests, its database pool, the
 * process) and, read at each scrape, what the database says of the queue.
 */
export class Metrics {
  readonly registry = new Registry();
  /** Set by the glue once RMS exists; until then the queue's gauges are empty. */
  queue: QueueStats | undefined;
  private claimSum = 0;
  private claimCount = 0;
  private readonly jobsEnded: Counter<'status' | 'pool'>;
  private readonly jobDuration: Histogram<'status' | 'tasktype'>;
  private readonly claimDuration: Histogram;
  private readonly claimedJobs: Counter;
  private readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  private readonly dbPing: Gauge;

  constructor(
    private readonly db: Db,
    /** How long a scrape waits for the database: past it, the queue's gauges are left out of that scrape. */
    private readonly answerMs: number,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const metrics = this;
    new Gauge({
      name: 'dpc_jobs',
      help: 'Jobs in each active state, over every workflow of the database',
      labelNames: ['state'],
      registers,
      async collect() {
        this.reset();
        const active = await metrics.ask((q) => q.active());
        for (const [state, n] of Object.entries(active ?? {})) this.set({ state }, n ?? 0);
      },
    });
    new Gauge({
      name: 'dpc_queue_ready_jobs',
      help: 'READY jobs by pool and priority: the depth of the queue',
      labelNames: ['pool', 'priority'],
      registers,
      async collect() {
        this.reset();
        for (const r of (await metrics.ask((q) => q.ready())) ?? []) this.set({ pool: r.pool, priority: String(r.priority) }, r.jobs);
      },
    });
    this.jobsEnded = new Counter({
      name: 'dpc_jobs_ended_total',
      help: 'Job outcomes this process recorded: SUCCESS, FAILED (an attempt failed) or HANDED_BACK (back to the queue, no attempt used)',
      labelNames: ['status', 'pool'],
      registers,
    });
    this.jobDuration = new Histogram({
      name: 'dpc_job_duration_seconds',
      help: 'Wall time of the job attempts this process ran, by outcome and task type',
      labelNames: ['status', 'tasktype'],
      buckets: [0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400],
      registers,
    });
    this.claimDuration = new Histogram({
      name: 'dpc_claim_duration_seconds',
      help: 'Time of each claim of READY jobs by this process, from its sending to its answer',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.claimedJobs = new Counter({ name: 'dpc_claimed_jobs_total', help: 'Jobs this process claimed', registers });
    this.httpDuration = new Histogram({
      name: 'dpc_http_request_duration_seconds',
      help: 'HTTP requests this process answered, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    });
    this.dbPing = new Gauge({ name: 'dpc_db_ping_seconds', help: 'Time of the latest health ping of the database', registers });
    new Gauge({
      name: 'dpc_db_pool_connections',
      help: "This process's database connections: used, free, and requests waiting for one (pending)",
      labelNames: ['state'],
      registers,
      collect() {
        const p = poolStats(metrics.db);
        this.set({ state: 'used' }, p.used);
        this.set({ state: 'free' }, p.free);
        this.set({ state: 'pending' }, p.pending);
      },
    });
    new Gauge({
      name: 'dpc_db_pool_max',
      help: "The most database connections this process opens (db.poolMax; 1 on SQLite)",
      registers,
      collect() {
        this.set(poolStats(metrics.db).max);
      },
    });
  }

  /** The outcomes PFS recorded. */
  recorded(jobs: readonly EndedJob[]): void {
    for (const j of jobs) {
      this.jobsEnded.inc({ status: j.status, pool: j.pool });
      if (j.wallMs !== undefined && j.status !== 'HANDED_BACK') this.jobDuration.observe({ status: j.status, tasktype: j.tasktype }, s(j.wallMs));
    }
  }

  /** A claim that took `ms` and brought `jobs`. */
  claimed(ms: number, jobs: number): void {
    this.claimDuration.observe(s(ms));
    this.claimedJobs.inc(jobs);
    this.claimSum += ms;
    this.claimCount++;
  }

  /** The mean claim time since the last call, ms (NaN: no claim meanwhile): for the Monitor's series. */
  takeClaimMean(): number {
    const mean = this.claimCount > 0 ? this.claimSum / this.claimCount : NaN;
    this.claimSum = 0;
    this.claimCount = 0;
    return mean;
  }

  pinged(ms: number): void {
    this.dbPing.set(s(ms));
  }

  http(method: string, route: string, status: number, ms: number): void {
    this.httpDuration.observe({ method, route, status: String(status) }, s(ms));
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** The queue's answer within the bound; undefined when there is no queue yet or the database is slow or away. */
  private async ask<T>(read: (q: QueueStats) => Promise<T>): Promise<T | undefined> {
    if (!this.queue) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((done) => (timer = setTimeout(() => done(undefined), this.answerMs)));
    try {
      return await Promise.race([read(this.queue), late]);
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The guard of /metrics: a bearer token compared in constant time. Without a configured
 * token /metrics is off (404, saying how to turn it on), so that it is never open by default.
 */
export function requireMetricsToken(token: string): RequestHandler {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  const expected = token === '' ? undefined : digest(token);
  return (req, res, next) => {
    if (!expected) throw smasErrors.metricsDisabled();
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    if (!m || !timingSafeEqual(digest(m[1]), expected)) {
      res.set('WWW-Authenticate', 'Bearer realm="dpc-metrics"');
      throw smasErrors.metricsToken();
    }
    next();
  };
}
