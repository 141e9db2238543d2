import { defineQuery } from '../../../core/query.js';

export const selectDescriptorByHash = defineQuery('rms.selectDescriptorByHash', { name: 'daily', hash: 'ab'.repeat(32) }, (knex, p) =>
  knex('rms_descriptor').select('id', 'version').where({ name: p.name, hash: p.hash }),
);

export const selectLatestVersion = defineQuery('rms.selectLatestVersion', { name: 'daily' }, (knex, p) =>
  knex('rms_descriptor').max({ version: 'version' }).where('name', p.name),
);

export const insertDescriptor = defineQuery(
  'rms.insertDescriptor',
  { name: 'daily', version: 1, hash: 'ab'.repeat(32), descriptor: '{}', created: 1767225600000 },
  (knex, p) => knex('rms_descriptor').insert(p).returning('id'),
);


/** Every version of some descriptors, newest first: a small table, one row per change of a descriptor. */
export const listDescriptorVersions = defineQuery('rms.listDescriptorVersions', { names: ['daily'] }, (knex, p) =>
  knex('rms_descriptor').select('id', 'name', 'version', 'created').whereIn('name', p.names).orderBy([{ column: 'name' }, { column: 'version', order: 'desc' }]),
);
