import type { Ddl } from '../ddl.js';

/**
 * One word per concept (docs/glossary.md): what a workflow is made from is its descriptor,
 * and a job put back in the queue after its holder's lease lapsed is a hand-back.
 * rms_workflow_def becomes rms_descriptor (its text column `descriptor`, a workflow's
 * reference to it `descid`), rms_job.reclaims becomes `handbacks`; the names of the keys
 * and indexes made from the old words follow. Rows stay as they are.
 *
 * SQLite keeps the name of rms_workflow's foreign key (rms_workflow_defid_fk) in the text of
 * its table, which it cannot change without copying it; it never reports the name, and the
 * key itself follows the renamed table and column.
 */
export const name = '0010_words';

export function up(ddl: Ddl): void {
  ddl.renameTable('rms_workflow_def', 'rms_descriptor');
  ddl.renameColumn('rms_descriptor', 'definition', 'descriptor');
  ddl.renameUnique('rms_descriptor', 'rms_workflow_def_version_uq', 'rms_descriptor_version_uq', ['name', 'version']);
  ddl.renameUnique('rms_descriptor', 'rms_workflow_def_hash_uq', 'rms_descriptor_hash_uq', ['name', 'hash']);
  ddl.renameColumn('rms_workflow', 'defid', 'descid');
  ddl.renameConstraint('rms_workflow', 'rms_workflow_defid_fk', 'rms_workflow_descid_fk');
  ddl.renameColumn('rms_job', 'reclaims', 'handbacks');
}
