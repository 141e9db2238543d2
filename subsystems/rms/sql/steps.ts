import { defineQuery } from '../../../core/query.js';

export interface StepRow {
  id: number;
  workflowid: number;
  name: string;
  tasktype: string;
  status: string;
  position: number;
  starttime: number | null;
  endtime: number | null;
}

export const insertStep = defineQuery(
  'rms.insertStep',
  { workflowid: 1, name: 'calibrate', tasktype: 'aim.calibrate', status: 'WAITING', position: 0, starttime: null as number | null },
  (knex, p) => knex('rms_step').insert(p).returning('id'),
);

export const insertStepDeps = defineQuery('rms.insertStepDeps', { rows: [{ stepid: 2, upstreamid: 1 }] }, (knex, p) =>
  knex('rms_step_dep').insert(p.rows),
);

export const selectSteps = defineQuery('rms.selectSteps', { workflowid: 1 }, (knex, p) =>
  knex('rms_step').select('id', 'workflowid', 'name', 'tasktype', 'status', 'position', 'starttime', 'endtime').where('workflowid', p.workflowid).orderBy('position'),
);

export const selectStepDeps = defineQuery('rms.selectStepDeps', { workflowid: 1 }, (knex, p) =>
  knex('rms_step_dep as d').join('rms_step as s', 's.id', 'd.stepid').select('d.stepid', 'd.upstreamid').where('s.workflowid', p.workflowid),
);

export const moveStep = defineQuery(
  'rms.moveStep',
  { id: 1, from: ['RUNNING'], to: 'SUCCESS', starttime: null as number | null, endtime: null as number | null },
  (knex, p) => {
    const set: Record<string, unknown> = { status: p.to, endtime: p.endtime };
    if (p.starttime !== null) set.starttime = p.starttime;
    return knex('rms_step').update(set).where('id', p.id).whereIn('status', p.from);
  },
);
