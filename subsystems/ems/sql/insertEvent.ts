import { defineQuery } from '../../../core/query.js';

export const insertEvent = defineQuery(
  'ems.insertEvent',
  { topic: 'dataset.updated', payload: '{"datasetid":1}', now: 1767225600000 },
  (knex, p) =>
    knex('ems_outbox')
      .insert({ topic: p.topic, payload: p.payload, state: 'PENDING', created: p.now, available: p.now, attempts: 0 })
      .returning('id'),
);
