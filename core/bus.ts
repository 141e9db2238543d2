import type { Knex } from 'knex';

/**
 * The bus contract every subsystem sees in its context (EMS implements it, `OutboxBus`),
 * and the facts subsystems announce. Durable topics are written to the outbox in the
 * transaction of their fact and delivered at least once after commit: their handlers are
 * idempotent. Transient topics only refresh what is shown and may be lost in a crash.
 */
export interface EventMap {
  /** A dataset entered the catalogue; `solutionid` is the solution it belongs to, if DSS knows it. */
  'dataset.updated': { datasetid: number; dmtype: string; solutionid?: number; transferid?: number; timeFrom?: string; timeTo?: string };
  /**
   * A job that failed for good (no attempt left, or its processes kept dying). A job that
   * succeeds or is cancelled is no event: at millions of jobs a day that would be an outbox
   * row each. Its workflow's end is (`workflow.finished`).
   */
  'job.finished': { jobid: number; workflowid: number; status: 'FAILED'; reason: string };
  'workflow.finished': { workflowid: number; name: string; status: 'SUCCESS' | 'FAILED' | 'CANCELLED' };
  'workflow.failed': { workflowid: number; name: string; reason: string };
  'node.down': { nodeid: number; name: string; reason: string };
  'node.up': { nodeid: number; name: string };
  'subsystem.state': { subsystem: string; state: string; detail?: string };
  /** An alert for on-call staff was recorded (ems_alert); a repeat of one still open (same `dedupe`) is none. */
  'alert.raised': { alertid: number; severity: string; code: string; subsystem: string; message: string; dedupe?: string; workflowid?: number; jobid?: number; nodeid?: number; transferid?: number };
  /** The condition of the open alert `alertid` (raised with this `dedupe`) went away: it is cleared. */
  'alert.cleared': { alertid: number; code: string; subsystem: string; message: string; dedupe: string };
}

export type Topic = keyof EventMap;

export interface Delivery {
  /** The outbox id: the same on every redelivery, so a handler can recognise a repeat. */
  eventid: number;
  attempt: number;
}

export type Handler<T extends Topic> = (payload: EventMap[T], delivery: Delivery) => Promise<void> | void;

export interface Bus {
  /** Records a durable event in `trx`; it is delivered after the transaction commits. */
  publish<T extends Topic>(trx: Knex.Transaction, topic: T, payload: EventMap[T]): Promise<void>;
  /** Delivers a transient event to this process's handlers now; lost if the process dies. */
  notify<T extends Topic>(topic: T, payload: EventMap[T]): void;
  /** Registers a handler under a name (for logs); returns the function that removes it. */
  subscribe<T extends Topic>(topic: T, name: string, handler: Handler<T>): () => void;
}
