import { defineQuery } from '../../../core/query.js';

const SOLUTION_COLUMNS = ['id', 'dmtype', 'sw_version', 'configid', 'workflowid', 'generationtime', 'automaticallygenerated', 'description'];

/** Configuration Tracking: solutions newest first, paged by key; of one data-model type on rms_solution_dm_ix. */
export const listSolutions = defineQuery('rms.listSolutions', { before: 100 as number | null, limit: 50, dmtype: 'AstroSolution' as string | null }, (knex, p) => {
  const q = knex('rms_solution').select(SOLUTION_COLUMNS).orderBy('id', 'desc').limit(p.limit);
  if (p.before !== null) q.where('id', '<', p.before);
  if (p.dmtype !== null) q.where('dmtype', p.dmtype);
  return q;
});

const META_COLUMNS = ['id', 'inputsolutionid', 'outputsolutionid', 'inputdmtype', 'outputdmtype', 'generationtime', 'automaticallygenerated'];

/** The DPCT's Solution Id Metadata of the solutions a solution was made from (rms_solution_meta_out_ix)… */
export const metaOfOutput = defineQuery('rms.metaOfOutput', { id: 2 }, (knex, p) => knex('rms_solution_meta').select(META_COLUMNS).where('outputsolutionid', p.id).orderBy('id'));

/** …and of those made from it (rms_solution_meta_in_ix). */
export const metaOfInput = defineQuery('rms.metaOfInput', { id: 1 }, (knex, p) => knex('rms_solution_meta').select(META_COLUMNS).where('inputsolutionid', p.id).orderBy('id'));

/** Configuration instances newest first, paged by key, without their content. */
export const listConfigs = defineQuery('rms.listConfigs', { before: 100 as number | null, limit: 50 }, (knex, p) => {
  const q = knex('rms_config').select('id', 'hash', 'sw_version', 'created').orderBy('id', 'desc').limit(p.limit);
  if (p.before !== null) q.where('id', '<', p.before);
  return q;
});
