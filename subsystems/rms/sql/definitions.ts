import { defineQuery } from '../../../core/query.js';

export const selectDefinitionByHash = defineQuery('rms.selectDefinitionByHash', { name: 'daily', hash: 'ab'.repeat(32) }, (knex, p) =>
  knex('rms_workflow_def').select('id', 'version').where({ name: p.name, hash: p.hash }),
);

export const selectLatestVersion = defineQuery('rms.selectLatestVersion', { name: 'daily' }, (knex, p) =>
  knex('rms_workflow_def').max({ version: 'version' }).where('name', p.name),
);

export const insertDefinition = defineQuery(
  'rms.insertDefinition',
  { name: 'daily', version: 1, hash: 'ab'.repeat(32), definition: '{}', created: 1767225600000 },
  (knex, p) => knex('rms_workflow_def').insert(p).returning('id'),
);

