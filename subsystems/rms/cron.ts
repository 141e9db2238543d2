import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'winston';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import { messageOf } from '../../core/errors.js';
import { lastCronFire } from './sql/solutions.js';
import type { Registered } from './registry.js';

export interface CronSlot {
  reg: Registered;
  /** `<workflow>#<n>`: the n-th trigger of the descriptor. */
  cronName: string;
  params: Record<string, unknown>;
  /** Unix ms of the time the expression named. */
  scheduled: number;
  outcome: 'FIRED' | 'CAUGHT_UP' | 'SKIPPED';
}

interface Entry {
  reg: Registered;
  cronName: string;
  schedule: string;
  params: Record<string, unknown>;
  task: ScheduledTask;
  /** Seconds resolution if the expression has six fields, else minutes. */
  stepMs: number;
}

export const CRON_LEASE = 'rms.cron';

/**
 * Cron triggers, in UTC. Every process schedules them, but only the holder of the
 * `rms.cron` lease fires; each firing is recorded in rms_cron_fire under a unique
 * (trigger, scheduled time), so that a slot fires once however many processes try. A
 * process that takes the lease looks back for slots missed while none ran, and fires the
 * latest one once (or records it skipped), as `rms.cron.catchUp` says.
 */
export class CronTriggers {
  private entries: Entry[] = [];

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly options: { catchUp: boolean; lookbackDays: number },
    private readonly isHeld: () => boolean,
    private readonly fire: (slot: CronSlot) => Promise<void>,
  ) {}

  start(registered: Registered[]): void {
    for (const reg of registered) {
      for (const [i, trigger] of (reg.descriptor.triggers ?? []).entries()) {
        if (trigger.kind !== 'cron') continue;
        const cronName = `${reg.descriptor.name}#${i + 1}`;
        const entry: Entry = {
          reg,
          cronName,
          schedule: trigger.schedule,
          params: trigger.params ?? {},
          stepMs: trigger.schedule.trim().split(/\s+/).length === 6 ? 1000 : 60_000,
          task: cron.createTask(trigger.schedule, (ctx) => this.onTick(entry, ctx.date), { timezone: 'UTC', name: cronName, unref: true, noOverlap: false }),
        };
        this.entries.push(entry);
        void entry.task.start();
      }
    }
  }

  /** When a cron trigger fires next (Unix ms), null when it is not scheduled in this process. */
  nextFiring(cronName: string): number | null {
    return this.entries.find((e) => e.cronName === cronName)?.task.getNextRun()?.getTime() ?? null;
  }

  async stop(): Promise<void> {
    for (const e of this.entries) await e.task.destroy();
    this.entries = [];
  }

  private onTick(entry: Entry, date: Date): void {
    if (!this.isHeld()) return;
    const scheduled = Math.floor(date.getTime() / entry.stepMs) * entry.stepMs;
    this.fire({ reg: entry.reg, cronName: entry.cronName, params: entry.params, scheduled, outcome: 'FIRED' }).catch((err) =>
      this.log.error(`cron trigger ${entry.cronName} failed to fire`, { workflow: entry.reg.descriptor.name, error: messageOf(err) }),
    );
  }

  /** Fires (or skips) the latest slot of each trigger missed since its last recorded firing. */
  async catchUp(): Promise<void> {
    const now = this.clock.now();
    for (const e of this.entries) {
      const [row] = (await lastCronFire(this.db.knex, { cron_name: e.cronName })) as { scheduled: number | null }[];
      // A trigger never fired before has missed nothing: it starts from now.
      if (row?.scheduled == null) continue;
      const last = Number(row.scheduled);
      const slot = this.latestSlot(e, Math.max(last + e.stepMs, now - this.options.lookbackDays * 86_400_000), now);
      if (slot === undefined) continue;
      await this.fire({ reg: e.reg, cronName: e.cronName, params: e.params, scheduled: slot, outcome: this.options.catchUp ? 'CAUGHT_UP' : 'SKIPPED' });
    }
  }

  /** The latest time in [from, to] the expression names, scanning back at its resolution. */
  private latestSlot(e: Entry, from: number, to: number): number | undefined {
    for (let t = Math.floor(to / e.stepMs) * e.stepMs; t >= from; t -= e.stepMs) {
      if (e.task.match(new Date(t))) return t;
    }
    return undefined;
  }
}
