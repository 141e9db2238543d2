import type { Logger } from 'winston';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import { isOutage, isUniqueViolation } from '../../core/db.js';
import { messageOf } from '../../core/errors.js';
import { insertLease, releaseLease, renewLease, takeLease } from './sql/lease.js';

/** A duty that must run in one process at a time (ARCHITECTURE §3): cron, outbox polling, the reaper. */
export interface Duty {
  /** Called when this process takes the lease; a rejection is logged and the lease kept. */
  onAcquired?(): void | Promise<void>;
  /** Called when this process lost it (the database did not answer in time, or it stopped). */
  onLost?(): void;
}

/**
 * Leases in smas_lease. Each is renewed every third of its length; one that lapses (its
 * holder died or lost the database) is taken by the first other process that tries. Times
 * are each process's clock: processes sharing a database must keep their clocks in step (NTP).
 */
export class Leases {
  private readonly duties = new Map<string, Duty>();
  private readonly held = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;

  constructor(
    private readonly db: Db,
    private readonly holder: string,
    private readonly leaseMs: number,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Registers a duty; it runs once this process holds its lease. */
  hold(name: string, duty: Duty = {}): void {
    this.duties.set(name, duty);
    if (this.timer) void this.tick();
  }

  isHeld(name: string): boolean {
    return this.held.has(name);
  }

  start(): Promise<void> {
    this.timer = setInterval(() => void this.tick(), Math.max(Math.floor(this.leaseMs / 3), 100));
    this.timer.unref();
    return this.tick();
  }

  /** Releases every lease held, so another process takes the duties over at once. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    for (const name of [...this.held]) {
      this.lose(name);
      await releaseLease(this.db.knex, { name, holder: this.holder }).catch((err) =>
        this.log.warn('could not release a lease; it lapses by itself', { lease: name, error: messageOf(err) }),
      );
    }
  }

  /** Tries every lease now: for tests and for a duty that must start at once. */
  tick(): Promise<void> {
    this.ticking ??= this.tickOnce().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async tickOnce(): Promise<void> {
    for (const [name, duty] of this.duties) {
      const started = this.clock.now();
      let ok: boolean;
      try {
        ok = await this.acquire(name, started);
      } catch (err) {
        if (!isOutage(err)) this.log.warn('lease renewal failed', { lease: name, error: messageOf(err) });
        ok = false;
      }
      // A renewal that took longer than the lease may have let another process take it meanwhile.
      if (ok && this.clock.now() - started >= this.leaseMs) ok = false;
      if (ok && !this.held.has(name)) {
        this.held.add(name);
        this.log.info(`took the lease ${name}`, { lease: name });
        await Promise.resolve(duty.onAcquired?.()).catch((err) => this.log.error(`duty ${name} failed to start`, { lease: name, error: messageOf(err) }));
      } else if (!ok && this.held.has(name)) {
        this.log.warn(`lost the lease ${name}`, { lease: name });
        this.lose(name);
      }
    }
  }

  private lose(name: string): void {
    this.held.delete(name);
    this.duties.get(name)?.onLost?.();
  }

  private async acquire(name: string, now: number): Promise<boolean> {
    const p = { name, holder: this.holder, now, expires: now + this.leaseMs };
    if (Number(await renewLease(this.db.knex, p)) > 0) return true;
    if (Number(await takeLease(this.db.knex, p)) > 0) return true;
    try {
      await insertLease(this.db.knex, p);
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false; // another process holds the lease
      throw err;
    }
  }
}
