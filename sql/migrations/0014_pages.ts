import type { Ddl } from '../ddl.js';

/**
 * The console's pages outside the Workflow Manager (issue 13): each table a page sorts and
 * pages by key gets the index that serves its order under each of its filters, and the
 * mission log learns which event an automatic entry came from, so that an event delivered
 * twice (the outbox delivers at least once) makes one entry.
 *
 * - Mission log, newest first by (created, id): created_ix (0001) unfiltered and for a time
 *   range; sev_ix, sub_ix and wf_ix for a severity, a subsystem or a workflow. Text search is
 *   a filter on the rows these walk (the DPCT's log held 24 000 entries).
 * - Alerts, newest first by (created, id): open_ix for one state (OPEN by default), created_ix
 *   for all; open_ix replaces state_ix (state, created), whose order it extends.
 * - Solutions by dmtype, newest first: dm_ix.
 * - Welcome's "failed today": workflows in a state that ended since midnight, status_end_ix.
 * - Node Monitor: the processes that beat lately, beat_ix.
 * The Logs table (pfs_log_file, newest first by id) has what it needs: the primary key,
 * wf_ix (workflowid, id) for a workflow, job_ix for a job (a job has a few rows).
 */
export const name = '0014_pages';

export function up(ddl: Ddl): void {
  ddl.alter('ems_mission_log', (c) => {
    // The ems_outbox id of the event an automatic entry records; null for an operator's entry.
    c.big('eventid');
    c.unique(['eventid'], 'event_uq');
  });
  ddl.index('ems_mission_log', 'sev_ix', ['severity', 'created', 'id']);
  ddl.index('ems_mission_log', 'sub_ix', ['subsystem', 'created', 'id']);
  ddl.index('ems_mission_log', 'wf_ix', ['workflowid', 'created', 'id']);

  ddl.dropIndex('ems_alert', 'state_ix');
  ddl.index('ems_alert', 'open_ix', ['state', 'created', 'id']);
  ddl.index('ems_alert', 'created_ix', ['created', 'id']);

  ddl.index('rms_solution', 'dm_ix', ['dmtype', 'id']);
  ddl.index('rms_workflow', 'status_end_ix', ['status', 'endtime']);
  ddl.index('smas_process', 'beat_ix', ['heartbeat']);
}
