import type { Ddl } from '../ddl.js';

/**
 * The whole schema of ARCHITECTURE §6, one table group per subsystem and prefixed with it.
 * Times: `*_ms`-free names hold Unix milliseconds (created, starttime, …); mission times
 * (time_from, start_check, …) hold signed nanoseconds from the mission epoch.
 * Columns the DPCT console shows keep the DPCT's names (PERSISTENCEID, DATASPEC, …).
 */
export const name = '0001_schema';

const SUBSYSTEM_STATES = ['STARTING', 'UP', 'DEGRADED', 'DOWN'] as const;
const WORKFLOW_STATUSES = ['CREATED', 'RUNNING', 'PAUSED', 'SUCCESS', 'FAILED', 'CANCELLED'] as const;
const STEP_STATUSES = ['WAITING', 'RUNNING', 'SUCCESS', 'FAILED', 'CANCELLED'] as const;
const JOB_STATUSES = ['WAITING', 'READY', 'CLAIMED', 'RUNNING', 'RETRY_WAIT', 'SUCCESS', 'FAILED', 'CANCELLED'] as const;
const TRIGGER_KINDS = ['CRON', 'DATA', 'MANUAL', 'BACKFILL', 'REPROCESS'] as const;
const ROLES = ['operator', 'scientist', 'admin'] as const;
const SEVERITIES = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;

export function up(ddl: Ddl): void {
  // SMAS: processes, subsystem states, leases for once-only duties, accounts, sessions, audit.
  ddl.table('smas_process', (c) => {
    c.str('id', 64).notNullable();
    c.primary(['id']);
    c.str('hostname', 255).notNullable();
    c.int('pid').notNullable();
    c.str('version', 40).notNullable();
    c.big('started').notNullable();
    c.big('heartbeat').notNullable();
    c.big('stopped');
  });
  ddl.table('smas_subsystem', (c) => {
    c.str('processid', 64).notNullable();
    c.str('name', 8).notNullable();
    c.primary(['processid', 'name']);
    c.oneOf('state', 10, SUBSYSTEM_STATES).notNullable();
    c.str('detail', 1000);
    c.big('changed').notNullable();
  });
  ddl.table('smas_lease', (c) => {
    c.str('name', 64).notNullable();
    c.primary(['name']);
    c.str('holder', 64);
    c.big('expires').notNullable();
    c.big('acquired').notNullable();
  });
  ddl.table('smas_account', (c) => {
    c.id();
    c.str('username', 64).notNullable();
    c.unique(['username'], 'username_uq');
    c.str('display_name', 200);
    c.oneOf('role', 16, ROLES).notNullable();
    c.str('pw_hash', 255).notNullable();
    c.flag('disabled');
    c.big('created').notNullable();
    c.big('last_login');
  });
  ddl.table('smas_session', (c) => {
    c.str('id', 64).notNullable(); // SHA-256 of the token: the token itself is never stored
    c.primary(['id']);
    c.ref('accountid', 'smas_account').notNullable();
    c.big('created').notNullable();
    c.big('expires').notNullable();
    c.big('last_seen').notNullable();
    c.str('address', 64);
    c.index(['expires'], 'expires_ix');
  });
  ddl.table(
    'smas_audit',
    (c) => {
      c.id();
      c.big('created').notNullable();
      c.str('username', 64).notNullable();
      c.str('action', 64).notNullable();
      c.str('target', 200);
      c.str('reason', 1000);
      c.clob('detail');
      c.str('address', 64);
      c.index(['created', 'id'], 'created_ix');
    },
    { partitionBy: 'created' },
  );

  // EMS: the transactional outbox of the bus, alerts to on-call staff, the mission log.
  ddl.table(
    'ems_outbox',
    (c) => {
      c.id();
      c.str('topic', 64).notNullable();
      c.clob('payload').notNullable();
      c.oneOf('state', 10, ['PENDING', 'DELIVERED', 'FAILED']).notNullable();
      c.big('created').notNullable();
      c.big('available').notNullable();
      c.int('attempts').notNullable().defaultTo(0);
      c.str('claim_token', 36);
      c.big('claim_until');
      c.big('delivered');
      c.str('last_error', 2000);
      c.index(['state', 'available', 'id'], 'due_ix');
    },
    { partitionBy: 'created' },
  );
  ddl.table('ems_alert', (c) => {
    c.id();
    c.big('created').notNullable();
    c.oneOf('severity', 10, SEVERITIES).notNullable();
    c.str('code', 40).notNullable();
    c.str('subsystem', 8).notNullable();
    c.str('message', 2000).notNullable();
    c.str('dedupe', 200);
    c.oneOf('state', 10, ['OPEN', 'SENT', 'FAILED', 'ACKED']).notNullable();
    c.int('attempts').notNullable().defaultTo(0);
    c.big('sent');
    c.big('acked');
    c.str('acked_by', 64);
    c.big('workflowid');
    c.big('jobid');
    c.big('nodeid');
    c.big('transferid');
    c.index(['state', 'created'], 'state_ix');
    c.index(['dedupe', 'state'], 'dedupe_ix');
  });
  ddl.table(
    'ems_mission_log',
    (c) => {
      c.id();
      c.big('created').notNullable();
      c.oneOf('severity', 10, SEVERITIES).notNullable();
      c.str('subsystem', 8).notNullable();
      c.str('message', 4000).notNullable();
      c.str('username', 64);
      c.big('workflowid');
      c.big('jobid');
      c.big('nodeid');
      c.big('transferid');
      c.index(['created', 'id'], 'created_ix');
    },
    { partitionBy: 'created' },
  );

  // RMS: configuration instances, solutions and provenance.
  ddl.table('rms_config', (c) => {
    c.id();
    c.str('hash', 64).notNullable();
    c.unique(['hash'], 'hash_uq');
    c.str('sw_version', 40).notNullable();
    c.clob('content').notNullable(); // the effective configuration, secrets masked
    c.big('created').notNullable();
  });
  ddl.table('rms_solution', (c) => {
    c.id();
    c.str('dmtype', 64).notNullable();
    c.str('sw_version', 40).notNullable();
    c.ref('configid', 'rms_config');
    c.big('workflowid');
    c.big('generationtime').notNullable();
    c.flag('automaticallygenerated', 1);
    c.str('description', 1000);
  });
  ddl.table('rms_solution_meta', (c) => {
    c.id();
    c.ref('inputsolutionid', 'rms_solution').notNullable();
    c.ref('outputsolutionid', 'rms_solution').notNullable();
    c.str('inputdmtype', 64).notNullable();
    c.str('outputdmtype', 64).notNullable();
    c.big('generationtime').notNullable();
    c.flag('automaticallygenerated', 1);
    c.index(['outputsolutionid'], 'out_ix');
    c.index(['inputsolutionid'], 'in_ix');
  });

  // DSS: datasets and the file catalogue.
  ddl.table('dss_dataset', (c) => {
    c.id();
    c.str('name', 200).notNullable();
    c.str('dmtype', 64).notNullable();
    c.ref('solutionid', 'rms_solution');
    c.big('transferid');
    c.int('nfiles').notNullable().defaultTo(0);
    c.big('bytes').notNullable().defaultTo(0);
    c.big('time_from');
    c.big('time_to');
    c.big('created').notNullable();
    c.index(['dmtype', 'time_from'], 'dm_time_ix');
  });
  ddl.table(
    'dss_file',
    (c) => {
      c.id();
      c.ref('datasetid', 'dss_dataset');
      c.str('path', 512).notNullable(); // relative to the store's root
      c.unique(['path'], 'path_uq');
      c.str('dmtype', 64).notNullable();
      c.big('bytes').notNullable();
      c.str('sha256', 64).notNullable();
      c.oneOf('state', 12, ['STAGED', 'STORED', 'QUARANTINED', 'ARCHIVED', 'DELETED']).notNullable();
      c.big('time_from');
      c.big('time_to');
      c.int('hpx_level');
      c.big('hpx_first');
      c.big('hpx_last');
      c.ref('solutionid', 'rms_solution');
      c.str('reason', 1000);
      c.big('created').notNullable();
      c.index(['dmtype', 'time_from'], 'dm_time_ix');
      c.index(['datasetid'], 'dataset_ix');
      c.index(['solutionid'], 'solution_ix');
    },
    { partitionBy: 'created' },
  );

  // DTS: transfers from the upstream centre, file by file.
  ddl.table('dts_transfer', (c) => {
    c.id();
    c.str('source', 512).notNullable();
    c.str('manifest', 512).notNullable();
    c.oneOf('state', 10, ['RUNNING', 'DONE', 'PARTIAL', 'FAILED']).notNullable();
    c.int('nfiles').notNullable().defaultTo(0);
    c.int('nfailed').notNullable().defaultTo(0);
    c.big('bytes').notNullable().defaultTo(0);
    c.ref('datasetid', 'dss_dataset');
    c.big('starttime').notNullable();
    c.big('endtime');
    c.str('reason', 2000);
    c.unique(['source', 'manifest'], 'manifest_uq');
    c.index(['starttime', 'id'], 'start_ix');
  });
  ddl.table(
    'dts_transfer_file',
    (c) => {
      c.id();
      c.ref('transferid', 'dts_transfer').notNullable();
      c.str('filename', 512).notNullable();
      c.big('bytes').notNullable();
      c.str('sha256', 64).notNullable();
      c.big('received').notNullable().defaultTo(0);
      c.oneOf('state', 12, ['PENDING', 'RECEIVING', 'VERIFIED', 'INGESTED', 'QUARANTINED']).notNullable();
      c.ref('fileid', 'dss_file');
      c.str('reason', 1000);
      c.big('created').notNullable();
      c.index(['transferid', 'id'], 'transfer_ix');
    },
    { partitionBy: 'created' },
  );

  // PFS: processing nodes.
  ddl.table('pfs_node', (c) => {
    c.id();
    c.str('name', 64).notNullable();
    c.unique(['name'], 'name_uq');
    c.oneOf('executor', 8, ['local', 'ssh', 'slurm']).notNullable();
    c.str('host', 255);
    c.int('port');
    c.oneOf('state', 8, ['UNKNOWN', 'UP', 'DOWN', 'DRAINED']).notNullable();
    c.int('cores');
    c.int('memory_mb');
    c.big('heartbeat');
    c.str('detail', 1000);
    c.flag('enabled', 1);
  });

  // RMS: workflow definitions, instances, steps, jobs and their counts; cron firings; run checks.
  ddl.table('rms_workflow_def', (c) => {
    c.id();
    c.str('name', 64).notNullable();
    c.int('version').notNullable();
    c.str('hash', 64).notNullable();
    c.clob('definition').notNullable();
    c.big('created').notNullable();
    c.unique(['name', 'version'], 'version_uq');
    c.unique(['name', 'hash'], 'hash_uq');
  });
  ddl.table('rms_workflow', (c) => {
    c.id();
    c.str('name', 64).notNullable();
    c.ref('defid', 'rms_workflow_def').notNullable();
    c.oneOf('status', 12, WORKFLOW_STATUSES).notNullable();
    c.str('persistenceid', 64);
    c.str('runid', 64);
    c.ref('transferid', 'dts_transfer');
    c.oneOf('trigger_kind', 12, TRIGGER_KINDS).notNullable();
    c.clob('params');
    c.int('priority').notNullable().defaultTo(0);
    c.ref('solutionid', 'rms_solution');
    c.ref('configid', 'rms_config');
    c.big('parentid');
    c.str('created_by', 64).notNullable();
    c.big('created').notNullable();
    c.big('starttime');
    c.big('endtime');
    c.str('reason', 2000);
    c.index(['status', 'id'], 'status_ix');
    c.index(['name', 'id'], 'name_ix');
    c.index(['created', 'id'], 'created_ix');
  });
  ddl.table('rms_step', (c) => {
    c.id();
    c.ref('workflowid', 'rms_workflow').notNullable();
    c.str('name', 64).notNullable();
    c.str('tasktype', 64).notNullable();
    c.oneOf('status', 12, STEP_STATUSES).notNullable();
    c.int('position').notNullable();
    c.big('starttime');
    c.big('endtime');
    c.unique(['workflowid', 'name'], 'name_uq');
  });
  ddl.table('rms_step_dep', (c) => {
    c.ref('stepid', 'rms_step').notNullable();
    c.ref('upstreamid', 'rms_step').notNullable();
    c.primary(['stepid', 'upstreamid']);
    c.index(['upstreamid'], 'up_ix');
  });
  ddl.table(
    'rms_job',
    (c) => {
      c.id();
      c.ref('workflowid', 'rms_workflow').notNullable();
      c.ref('stepid', 'rms_step').notNullable();
      c.oneOf('status', 12, JOB_STATUSES).notNullable();
      c.int('priority').notNullable().defaultTo(0);
      c.str('tasktype', 64).notNullable();
      c.str('dataspec', 4000);
      c.ref('solutionid', 'rms_solution');
      c.str('logs', 512);
      c.int('attempts').notNullable().defaultTo(0);
      c.int('max_attempts').notNullable().defaultTo(1);
      c.big('run_after').notNullable();
      c.big('lease_until');
      c.str('claimed_by', 64);
      c.str('executor', 8);
      c.ref('nodeid', 'pfs_node');
      c.str('executor_ref', 64);
      c.big('timeout_ms');
      c.int('cpus').notNullable().defaultTo(1);
      c.int('memory_mb');
      c.big('created').notNullable();
      c.big('starttime');
      c.big('endtime');
      c.str('reason', 2000);
      c.clob('result');
      c.big('wall_ms');
      c.big('cpu_ms');
      c.int('peak_mem_mb');
      c.index(['status', 'priority', 'id'], 'claim_ix');
      c.index(['workflowid', 'status', 'id'], 'wf_ix');
      c.index(['stepid', 'status'], 'step_ix');
      c.index(['status', 'endtime'], 'end_ix');
      c.index(['lease_until'], 'lease_ix');
    },
    { partitionBy: 'created' },
  );
  ddl.table('rms_job_count', (c) => {
    c.ref('workflowid', 'rms_workflow').notNullable();
    c.ref('stepid', 'rms_step').notNullable();
    c.oneOf('status', 12, JOB_STATUSES).notNullable();
    c.primary(['stepid', 'status']);
    c.big('jobs').notNullable();
    c.index(['workflowid'], 'wf_ix');
  });
  ddl.table('rms_cron_fire', (c) => {
    c.id();
    c.str('cron_name', 64).notNullable();
    c.big('scheduled').notNullable();
    c.big('fired').notNullable();
    c.oneOf('outcome', 10, ['FIRED', 'CAUGHT_UP', 'SKIPPED']).notNullable();
    c.ref('workflowid', 'rms_workflow');
    c.str('processid', 64).notNullable();
    c.unique(['cron_name', 'scheduled'], 'once_uq');
  });
  ddl.table('rms_run_check', (c) => {
    c.id();
    c.str('sw', 64).notNullable();
    c.big('start_check').notNullable();
    c.big('end_check').notNullable();
    c.oneOf('check_status', 12, ['OPEN', 'CHECKING', 'PASSED', 'FAILED']).notNullable();
    c.oneOf('delete_status', 12, ['KEPT', 'PENDING', 'DELETED']).notNullable();
    c.str('note', 2000);
    c.big('created').notNullable();
  });

  // PFS: the job log files the Logs page lists (DPCT columns).
  ddl.table(
    'pfs_log_file',
    (c) => {
      c.id();
      c.str('filename', 512).notNullable();
      c.ref('jobid', 'rms_job');
      c.str('subsystem', 8).notNullable();
      c.str('taskname', 64);
      c.ref('workflowid', 'rms_workflow');
      c.int('maxbackupnumber').notNullable();
      c.int('numberofbackup').notNullable().defaultTo(0);
      c.big('bytes').notNullable().defaultTo(0);
      c.big('created').notNullable();
      c.big('updated').notNullable();
      c.index(['jobid'], 'job_ix');
      c.index(['workflowid', 'id'], 'wf_ix');
    },
    { partitionBy: 'created' },
  );

  // DAAS: scientists' saved queries.
  ddl.table('daas_query', (c) => {
    c.id();
    c.ref('accountid', 'smas_account').notNullable();
    c.str('name', 200).notNullable();
    c.clob('sql_text').notNullable();
    c.flag('shared');
    c.big('created').notNullable();
    c.big('updated').notNullable();
    c.unique(['accountid', 'name'], 'name_uq');
  });
}
