import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'winston';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import { isOutage } from '../../core/db.js';
import { messageOf } from '../../core/errors.js';
import { insertedId } from '../../core/query.js';
import type { Config } from '../../config/schema.js';
import { claimEvents, selectClaimedEvents, selectDueEvents } from './sql/claimEvents.js';
import { insertEvent } from './sql/insertEvent.js';
import { markDelivered, markUndelivered } from './sql/settleEvent.js';
import type { Bus, Delivery, EventMap, Handler, Topic } from '../../core/bus.js';

type AnyHandler = (payload: unknown, delivery: Delivery) => Promise<void> | void;

/**
 * The EMS bus with its transactional outbox. A durable event is a row of ems_outbox
 * written with its fact; after commit this process tries it at once, and a poll picks up
 * whatever is left: events of a process that died, or that failed and wait for a retry.
 */
export class OutboxBus implements Bus {
  private readonly handlers = new Map<Topic, { name: string; handler: AnyHandler }[]>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private outageLogged = false;

  constructor(
    private readonly db: Db,
    private readonly options: Config['ems']['outbox'],
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  async publish<T extends Topic>(trx: Knex.Transaction, topic: T, payload: EventMap[T]): Promise<void> {
    const id = insertedId(await insertEvent(trx, { topic, payload: JSON.stringify(payload), now: this.clock.now() }));
    this.log.debug('event recorded', { topic, eventid: id });
    // Delivered once the transaction has committed; a rollback discards the event with its fact.
    trx.executionPromise.then(
      () => this.kick(),
      () => undefined,
    );
  }

  notify<T extends Topic>(topic: T, payload: EventMap[T]): void {
    for (const { name, handler } of this.handlers.get(topic) ?? []) {
      Promise.resolve()
        .then(() => handler(payload, { eventid: 0, attempt: 1 }))
        .catch((err) => this.log.warn('transient event handler failed', { topic, handler: name, error: messageOf(err) }));
    }
  }

  subscribe<T extends Topic>(topic: T, name: string, handler: Handler<T>): () => void {
    const list = this.handlers.get(topic) ?? [];
    const entry = { name, handler: handler as AnyHandler };
    this.handlers.set(topic, [...list, entry]);
    return () => this.handlers.set(topic, (this.handlers.get(topic) ?? []).filter((h) => h !== entry));
  }

  /** Starts polling the outbox for events left undelivered (after a restart, or a failure). */
  start(): void {
    this.timer = setInterval(() => this.kick(), this.options.pollMs);
    this.timer.unref();
    this.kick();
  }

  /** Stops polling and waits for the delivery in flight; what is left stays in the outbox. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.again = false;
    await this.running;
  }

  /** Delivers what is due now, once started; one pass at a time, another if asked meanwhile. */
  kick(): void {
    if (!this.timer) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.deliverDue()
      .catch((err) => this.onPollError(err))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Resolves when no delivery is in flight: for tests and orderly shutdown. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async deliverDue(): Promise<void> {
    for (;;) {
      const { knex } = this.db;
      const now = this.clock.now();
      const due = (await selectDueEvents(knex, { now, limit: this.options.batchSize })) as { id: number }[];
      if (due.length === 0) break;
      const token = randomUUID();
      const ids = due.map((r) => Number(r.id));
      await claimEvents(knex, { ids, token, now, until: now + this.options.claimMs });
      const claimed = (await selectClaimedEvents(knex, { ids, token })) as { id: number; topic: Topic; payload: string; attempts: number }[];
      this.outageLogged = false;
      for (const event of claimed) await this.deliver({ ...event, id: Number(event.id) }, token);
      if (due.length < this.options.batchSize) break;
    }
  }

  private async deliver(event: { id: number; topic: Topic; payload: string; attempts: number }, token: string): Promise<void> {
    const attempt = Number(event.attempts) + 1;
    try {
      const payload = JSON.parse(event.payload) as unknown;
      for (const { handler } of this.handlers.get(event.topic) ?? []) await handler(payload, { eventid: event.id, attempt });
      await markDelivered(this.db.knex, { id: event.id, token, now: this.clock.now() });
    } catch (err) {
      if (isOutage(err)) throw err;
      const failed = attempt >= this.options.maxAttempts;
      const delay = Math.min(this.options.backoffMaxMs, this.options.backoffBaseMs * 2 ** (attempt - 1));
      const fields = { topic: event.topic, eventid: event.id, attempt, error: messageOf(err) };
      if (failed) this.log.error('event delivery failed for good; it stays in ems_outbox as FAILED', fields);
      else this.log.warn(`event delivery failed; retrying in ${delay} ms`, fields);
      await markUndelivered(this.db.knex, {
        id: event.id,
        token,
        attempts: attempt,
        available: this.clock.now() + delay,
        error: messageOf(err),
        failed,
      });
    }
  }

  private onPollError(err: unknown): void {
    if (isOutage(err)) {
      // Said once per outage; the events wait in the outbox until the database is back.
      if (!this.outageLogged) this.log.warn('outbox delivery paused: database unreachable', { error: messageOf(err) });
      this.outageLogged = true;
      return;
    }
    this.log.error('outbox delivery pass failed', { error: messageOf(err) });
  }
}
