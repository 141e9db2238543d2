import type { Ddl } from '../ddl.js';

/**
 * Run management (RMS) and the local executor (PFS): what the durable job queue needs
 * beyond the first schema.
 */
export const name = '0002_run_management';

const POOL_STATES = ['OPEN', 'DRAINED'] as const;

export function up(ddl: Ddl): void {
  ddl.alter('rms_job', (c) => {
    // The executor pool that runs the job (`local`, a node group, a Slurm partition).
    c.str('pool', 32).notNullable().defaultTo('local');
    // The first retry's delay; each further retry doubles it.
    c.big('backoff_ms').notNullable().defaultTo(0);
    // Times the job was handed back because the process holding it died or stopped: the
    // attempt was not the job's fault, so it does not count against max_attempts.
    c.int('reclaims').notNullable().defaultTo(0);
  });
  // Claims read READY jobs of one pool by priority, highest first, then oldest.
  ddl.dropIndex('rms_job', 'claim_ix');
  ddl.index('rms_job', 'ready_ix', ['status', 'pool', { column: 'priority', desc: true }, 'id']);
  // The jobs of an instance in id order: (workflowid, status, id) cannot give that without a
  // status, and the planner walked the primary key over every older job (7 s at 40 M jobs).
  ddl.index('rms_job', 'wf_id_ix', ['workflowid', 'id']);

  // Every instance carries the identity of what started it (cron slot, event, backfill day,
  // request), so a trigger delivered twice creates it once.
  ddl.alter('rms_workflow', (c) => c.unique(['name', 'runid'], 'run_uq'));

  // Pools an operator drained: no process claims their jobs until opened again.
  ddl.table('pfs_pool', (c) => {
    c.str('name', 32).notNullable();
    c.primary(['name']);
    c.oneOf('state', 8, POOL_STATES).notNullable();
    c.big('changed').notNullable();
    c.str('changed_by', 64).notNullable();
    c.str('reason', 1000);
  });
}
