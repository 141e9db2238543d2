import { defineQuery } from '../../../core/query.js';

export const selectConfigByHash = defineQuery('rms.selectConfigByHash', { hash: 'ab'.repeat(32) }, (knex, p) =>
  knex('rms_config').select('id').where('hash', p.hash),
);

export const insertConfig = defineQuery(
  'rms.insertConfig',
  { hash: 'ab'.repeat(32), sw_version: '0.1.0', content: '{}', created: 1767225600000 },
  (knex, p) => knex('rms_config').insert(p).returning('id'),
);

export const selectConfig = defineQuery('rms.selectConfig', { id: 1 }, (knex, p) =>
  knex('rms_config').select('id', 'hash', 'sw_version', 'content', 'created').where('id', p.id),
);

export const insertSolution = defineQuery(
  'rms.insertSolution',
  { dmtype: 'AstroSolution', sw_version: '0.1.0', configid: 1, workflowid: 1, generationtime: 1767225600000, automaticallygenerated: 1, description: null as string | null },
  (knex, p) => knex('rms_solution').insert(p).returning('id'),
);

export const selectSolution = defineQuery('rms.selectSolution', { id: 1 }, (knex, p) =>
  knex('rms_solution').select('id', 'dmtype', 'sw_version', 'configid', 'workflowid', 'generationtime', 'automaticallygenerated', 'description').where('id', p.id),
);

export const insertSolutionMeta = defineQuery(
  'rms.insertSolutionMeta',
  { rows: [{ inputsolutionid: 1, outputsolutionid: 2, inputdmtype: 'AstroObservation', outputdmtype: 'AstroSolution', generationtime: 1767225600000, automaticallygenerated: 1 }] },
  (knex, p) => knex('rms_solution_meta').insert(p.rows),
);

/** The input solutions of a solution: its provenance, one level up. */
export const selectSolutionInputs = defineQuery('rms.selectSolutionInputs', { id: 2 }, (knex, p) =>
  knex('rms_solution_meta').select('inputsolutionid', 'inputdmtype', 'outputdmtype', 'generationtime').where('outputsolutionid', p.id).orderBy('inputsolutionid'),
);

export const insertCronFire = defineQuery(
  'rms.insertCronFire',
  { cron_name: 'daily#1', scheduled: 1767225600000, fired: 1767225600500, outcome: 'FIRED', workflowid: null as number | null, processid: 'host:123:ab12' },
  (knex, p) => knex('rms_cron_fire').insert(p),
);

export const lastCronFire = defineQuery('rms.lastCronFire', { cron_name: 'daily#1' }, (knex, p) =>
  knex('rms_cron_fire').max({ scheduled: 'scheduled' }).where('cron_name', p.cron_name),
);

