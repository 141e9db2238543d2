import type { Logger } from 'winston';
import { purgeInBatches } from '../../core/archive.js';
import type { Db } from '../../core/db.js';
import { deletePurgeableEvents, EVENT_ARCHIVE_COLUMNS, selectExistingEventIds, selectPurgeableEvents } from './sql/retention.js';

export interface PurgeEventsOptions {
  db: Db;
  /** The archive's root (DSS's archive area); files land in `<dir>/ems_outbox/<YYYY-MM>/`. */
  dir: string;
  /** Unix ms: delivered events created before it go. */
  before: number;
  /** Events per batch (at most 1000). */
  batchSize: number;
  log: Logger;
  /** Pause between batches, in ms (default 5). */
  pauseMs?: number;
  /** Stops between batches. */
  signal?: AbortSignal;
}

/**
 * Retention of the outbox: DELIVERED events created before `before` are archived, one Arrow
 * file per month of their creation per batch
 * (`<dir>/ems_outbox/<YYYY-MM>/ems_outbox-<YYYY-MM>-<firstid>-<lastid>.arrow`), then deleted,
 * batch by batch, each in a short transaction of its own with a pause between, so that
 * delivery is not held up. PENDING events (not yet delivered) and FAILED ones (an operator
 * must see why) are never purged.
 */
export async function purgeDeliveredEvents(options: PurgeEventsOptions): Promise<{ archived: number; files: string[] }> {
  const { before } = options;
  return purgeInBatches<Record<string, unknown> & { id: unknown }>({
    db: options.db,
    dir: options.dir,
    table: 'ems_outbox',
    timeColumn: 'created',
    columns: EVENT_ARCHIVE_COLUMNS,
    batchSize: options.batchSize,
    pauseMs: options.pauseMs,
    signal: options.signal,
    log: options.log,
    select: (knex, limit) => selectPurgeableEvents(knex, { before, limit }),
    remove: async (trx, ids) => Number(await deletePurgeableEvents(trx, { ids, before })),
    remaining: (trx, ids) => selectExistingEventIds(trx, { ids }) as Promise<{ id: unknown }[]>,
  });
}
