import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readArchive } from '../../core/archive.js';
import { purgeDeliveredEvents } from '../../subsystems/ems/retention.js';
import { EVENT_ARCHIVE_COLUMNS } from '../../subsystems/ems/sql/retention.js';
import { archive, archivedIds, columnsOf, CUTOFF, ids, insert, log, ms, t, useRetentionDb } from '../helpers/retention.js';

useRetentionDb();

describe('retention of delivered events', () => {
  it('delivered events are archived and purged; pending and failed ones stay', async () => {
    const event = (state: string, created: string, extra: Record<string, unknown> = {}) =>
      insert('ems_outbox', { topic: 'dataset.updated', payload: '{"datasetid":1}', state, created: ms(created), available: ms(created), attempts: 1, ...extra });
    const dec = await event('DELIVERED', '2025-12-31T23:00:00Z', { delivered: ms('2025-12-31T23:00:01Z') });
    const jan = await event('DELIVERED', '2026-01-02T00:00:00Z', { delivered: ms('2026-01-02T00:00:01Z') });
    const stay = [
      await event('PENDING', '2026-01-03T00:00:00Z'),
      await event('FAILED', '2026-01-04T00:00:00Z', { last_error: 'handler failed', attempts: 5 }),
      await event('DELIVERED', '2026-03-02T00:00:00Z'),
    ];

    const { archived, files } = await purgeDeliveredEvents({ db: t.db, dir: archive, before: CUTOFF, batchSize: 100, log });

    expect(archived).toBe(2);
    expect(files).toEqual([
      join(archive, 'ems_outbox', '2025-12', `ems_outbox-2025-12-${dec}-${dec}.arrow`),
      join(archive, 'ems_outbox', '2026-01', `ems_outbox-2026-01-${jan}-${jan}.arrow`),
    ]);
    expect((await readArchive(files[0]))[0]).toMatchObject({
      id: BigInt(dec), topic: 'dataset.updated', payload: '{"datasetid":1}', state: 'DELIVERED', delivered: BigInt(ms('2025-12-31T23:00:01Z')), last_error: null,
    });
    expect(await archivedIds(files)).toEqual([dec, jan]);
    expect(await ids('ems_outbox')).toEqual(stay);
  });

  it('the archive of ems_outbox holds every column of the table', async () => {
    expect(EVENT_ARCHIVE_COLUMNS.map((c) => c.name).sort()).toEqual(await columnsOf('ems_outbox'));
  });
});
