-- DPC schema for postgresql: generated from sql/migrations by `npm run sql:generate`; do not edit.
-- Times are Unix milliseconds, except mission times (time_from, time_to, start_check, end_check): nanoseconds.

-- migration 0001_schema
create table "smas_process" ("id" varchar(64) not null, "hostname" varchar(255) not null, "pid" integer not null, "version" varchar(40) not null, "started" bigint not null, "heartbeat" bigint not null, "stopped" bigint, constraint "smas_process_pk" primary key ("id"));
create table "smas_subsystem" ("processid" varchar(64) not null, "name" varchar(8) not null, "state" varchar(10) not null, "detail" varchar(1000), "changed" bigint not null, constraint "smas_subsystem_pk" primary key ("processid", "name"), constraint smas_subsystem_state_ck check (state in ('STARTING', 'UP', 'DEGRADED', 'DOWN')));
create table "smas_lease" ("name" varchar(64) not null, "holder" varchar(64), "expires" bigint not null, "acquired" bigint not null, constraint "smas_lease_pk" primary key ("name"));
create table "smas_account" ("id" bigserial primary key, "username" varchar(64) not null, "display_name" varchar(200), "role" varchar(16) not null, "pw_hash" varchar(255) not null, "disabled" smallint not null default '0', "created" bigint not null, "last_login" bigint, constraint smas_account_role_ck check (role in ('operator', 'scientist', 'admin')), constraint smas_account_disabled_ck check (disabled in (0, 1)));
alter table "smas_account" add constraint "smas_account_username_uq" unique ("username");
create table "smas_session" ("id" varchar(64) not null, "accountid" bigint not null, "created" bigint not null, "expires" bigint not null, "last_seen" bigint not null, "address" varchar(64), constraint "smas_session_pk" primary key ("id"));
alter table "smas_session" add constraint "smas_session_accountid_fk" foreign key ("accountid") references "smas_account" ("id");
create index "smas_session_expires_ix" on "smas_session" ("expires");
create table "smas_audit" ("id" bigserial primary key, "created" bigint not null, "username" varchar(64) not null, "action" varchar(64) not null, "target" varchar(200), "reason" varchar(1000), "detail" text, "address" varchar(64));
create index "smas_audit_created_ix" on "smas_audit" ("created", "id");
create table "ems_outbox" ("id" bigserial primary key, "topic" varchar(64) not null, "payload" text not null, "state" varchar(10) not null, "created" bigint not null, "available" bigint not null, "attempts" integer not null default '0', "claim_token" varchar(36), "claim_until" bigint, "delivered" bigint, "last_error" varchar(2000), constraint ems_outbox_state_ck check (state in ('PENDING', 'DELIVERED', 'FAILED')));
create index "ems_outbox_due_ix" on "ems_outbox" ("state", "available", "id");
create table "ems_alert" ("id" bigserial primary key, "created" bigint not null, "severity" varchar(10) not null, "code" varchar(40) not null, "subsystem" varchar(8) not null, "message" varchar(2000) not null, "dedupe" varchar(200), "state" varchar(10) not null, "attempts" integer not null default '0', "sent" bigint, "acked" bigint, "acked_by" varchar(64), "workflowid" bigint, "jobid" bigint, "nodeid" bigint, "transferid" bigint, constraint ems_alert_severity_ck check (severity in ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')), constraint ems_alert_state_ck check (state in ('OPEN', 'SENT', 'FAILED', 'ACKED')));
create index "ems_alert_state_ix" on "ems_alert" ("state", "created");
create index "ems_alert_dedupe_ix" on "ems_alert" ("dedupe", "state");
create table "ems_mission_log" ("id" bigserial primary key, "created" bigint not null, "severity" varchar(10) not null, "subsystem" varchar(8) not null, "message" varchar(4000) not null, "username" varchar(64), "workflowid" bigint, "jobid" bigint, "nodeid" bigint, "transferid" bigint, constraint ems_mission_log_severity_ck check (severity in ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')));
create index "ems_mission_log_created_ix" on "ems_mission_log" ("created", "id");
create table "rms_config" ("id" bigserial primary key, "hash" varchar(64) not null, "sw_version" varchar(40) not null, "content" text not null, "created" bigint not null);
alter table "rms_config" add constraint "rms_config_hash_uq" unique ("hash");
create table "rms_solution" ("id" bigserial primary key, "dmtype" varchar(64) not null, "sw_version" varchar(40) not null, "configid" bigint, "workflowid" bigint, "generationtime" bigint not null, "automaticallygenerated" smallint not null default '1', "description" varchar(1000), constraint rms_solution_automaticallyg_ck check (automaticallygenerated in (0, 1)));
alter table "rms_solution" add constraint "rms_solution_configid_fk" foreign key ("configid") references "rms_config" ("id");
create table "rms_solution_meta" ("id" bigserial primary key, "inputsolutionid" bigint not null, "outputsolutionid" bigint not null, "inputdmtype" varchar(64) not null, "outputdmtype" varchar(64) not null, "generationtime" bigint not null, "automaticallygenerated" smallint not null default '1', constraint rms_solution_meta_automatic_ck check (automaticallygenerated in (0, 1)));
alter table "rms_solution_meta" add constraint "rms_solution_meta_inputsolu_fk" foreign key ("inputsolutionid") references "rms_solution" ("id");
alter table "rms_solution_meta" add constraint "rms_solution_meta_outputsol_fk" foreign key ("outputsolutionid") references "rms_solution" ("id");
create index "rms_solution_meta_out_ix" on "rms_solution_meta" ("outputsolutionid");
create index "rms_solution_meta_in_ix" on "rms_solution_meta" ("inputsolutionid");
create table "dss_dataset" ("id" bigserial primary key, "name" varchar(200) not null, "dmtype" varchar(64) not null, "solutionid" bigint, "transferid" bigint, "nfiles" integer not null default '0', "bytes" bigint not null default '0', "time_from" bigint, "time_to" bigint, "created" bigint not null);
alter table "dss_dataset" add constraint "dss_dataset_solutionid_fk" foreign key ("solutionid") references "rms_solution" ("id");
create index "dss_dataset_dm_time_ix" on "dss_dataset" ("dmtype", "time_from");
create table "dss_file" ("id" bigserial primary key, "datasetid" bigint, "path" varchar(512) not null, "dmtype" varchar(64) not null, "bytes" bigint not null, "sha256" varchar(64) not null, "state" varchar(12) not null, "time_from" bigint, "time_to" bigint, "hpx_level" integer, "hpx_first" bigint, "hpx_last" bigint, "solutionid" bigint, "reason" varchar(1000), "created" bigint not null, constraint dss_file_state_ck check (state in ('STAGED', 'STORED', 'QUARANTINED', 'ARCHIVED', 'DELETED')));
alter table "dss_file" add constraint "dss_file_datasetid_fk" foreign key ("datasetid") references "dss_dataset" ("id");
alter table "dss_file" add constraint "dss_file_path_uq" unique ("path");
alter table "dss_file" add constraint "dss_file_solutionid_fk" foreign key ("solutionid") references "rms_solution" ("id");
create index "dss_file_dm_time_ix" on "dss_file" ("dmtype", "time_from");
create index "dss_file_dataset_ix" on "dss_file" ("datasetid");
create index "dss_file_solution_ix" on "dss_file" ("solutionid");
create table "dts_transfer" ("id" bigserial primary key, "source" varchar(512) not null, "manifest" varchar(512) not null, "state" varchar(10) not null, "nfiles" integer not null default '0', "nfailed" integer not null default '0', "bytes" bigint not null default '0', "datasetid" bigint, "starttime" bigint not null, "endtime" bigint, "reason" varchar(2000), constraint dts_transfer_state_ck check (state in ('RUNNING', 'DONE', 'PARTIAL', 'FAILED')));
alter table "dts_transfer" add constraint "dts_transfer_datasetid_fk" foreign key ("datasetid") references "dss_dataset" ("id");
alter table "dts_transfer" add constraint "dts_transfer_manifest_uq" unique ("source", "manifest");
create index "dts_transfer_start_ix" on "dts_transfer" ("starttime", "id");
create table "dts_transfer_file" ("id" bigserial primary key, "transferid" bigint not null, "filename" varchar(512) not null, "bytes" bigint not null, "sha256" varchar(64) not null, "received" bigint not null default '0', "state" varchar(12) not null, "fileid" bigint, "reason" varchar(1000), "created" bigint not null, constraint dts_transfer_file_state_ck check (state in ('PENDING', 'RECEIVING', 'VERIFIED', 'INGESTED', 'QUARANTINED')));
alter table "dts_transfer_file" add constraint "dts_transfer_file_transferi_fk" foreign key ("transferid") references "dts_transfer" ("id");
alter table "dts_transfer_file" add constraint "dts_transfer_file_fileid_fk" foreign key ("fileid") references "dss_file" ("id");
create index "dts_transfer_file_transfer_ix" on "dts_transfer_file" ("transferid", "id");
create table "pfs_node" ("id" bigserial primary key, "name" varchar(64) not null, "executor" varchar(8) not null, "host" varchar(255), "port" integer, "state" varchar(8) not null, "cores" integer, "memory_mb" integer, "heartbeat" bigint, "detail" varchar(1000), "enabled" smallint not null default '1', constraint pfs_node_executor_ck check (executor in ('local', 'ssh', 'slurm')), constraint pfs_node_state_ck check (state in ('UNKNOWN', 'UP', 'DOWN', 'DRAINED')), constraint pfs_node_enabled_ck check (enabled in (0, 1)));
alter table "pfs_node" add constraint "pfs_node_name_uq" unique ("name");
create table "rms_workflow_def" ("id" bigserial primary key, "name" varchar(64) not null, "version" integer not null, "hash" varchar(64) not null, "definition" text not null, "created" bigint not null);
alter table "rms_workflow_def" add constraint "rms_workflow_def_version_uq" unique ("name", "version");
alter table "rms_workflow_def" add constraint "rms_workflow_def_hash_uq" unique ("name", "hash");
create table "rms_workflow" ("id" bigserial primary key, "name" varchar(64) not null, "defid" bigint not null, "status" varchar(12) not null, "persistenceid" varchar(64), "runid" varchar(64), "transferid" bigint, "trigger_kind" varchar(12) not null, "params" text, "priority" integer not null default '0', "solutionid" bigint, "configid" bigint, "parentid" bigint, "created_by" varchar(64) not null, "created" bigint not null, "starttime" bigint, "endtime" bigint, "reason" varchar(2000), constraint rms_workflow_status_ck check (status in ('CREATED', 'RUNNING', 'PAUSED', 'SUCCESS', 'FAILED', 'CANCELLED')), constraint rms_workflow_trigger_kind_ck check (trigger_kind in ('CRON', 'DATA', 'MANUAL', 'BACKFILL', 'REPROCESS')));
alter table "rms_workflow" add constraint "rms_workflow_defid_fk" foreign key ("defid") references "rms_workflow_def" ("id");
alter table "rms_workflow" add constraint "rms_workflow_transferid_fk" foreign key ("transferid") references "dts_transfer" ("id");
alter table "rms_workflow" add constraint "rms_workflow_solutionid_fk" foreign key ("solutionid") references "rms_solution" ("id");
alter table "rms_workflow" add constraint "rms_workflow_configid_fk" foreign key ("configid") references "rms_config" ("id");
create index "rms_workflow_status_ix" on "rms_workflow" ("status", "id");
create index "rms_workflow_name_ix" on "rms_workflow" ("name", "id");
create index "rms_workflow_created_ix" on "rms_workflow" ("created", "id");
create table "rms_step" ("id" bigserial primary key, "workflowid" bigint not null, "name" varchar(64) not null, "tasktype" varchar(64) not null, "status" varchar(12) not null, "position" integer not null, "starttime" bigint, "endtime" bigint, constraint rms_step_status_ck check (status in ('WAITING', 'RUNNING', 'SUCCESS', 'FAILED', 'CANCELLED')));
alter table "rms_step" add constraint "rms_step_workflowid_fk" foreign key ("workflowid") references "rms_workflow" ("id");
alter table "rms_step" add constraint "rms_step_name_uq" unique ("workflowid", "name");
create table "rms_step_dep" ("stepid" bigint not null, "upstreamid" bigint not null, constraint "rms_step_dep_pk" primary key ("stepid", "upstreamid"));
alter table "rms_step_dep" add constraint "rms_step_dep_stepid_fk" foreign key ("stepid") references "rms_step" ("id");
alter table "rms_step_dep" add constraint "rms_step_dep_upstreamid_fk" foreign key ("upstreamid") references "rms_step" ("id");
create index "rms_step_dep_up_ix" on "rms_step_dep" ("upstreamid");
create table "rms_job" ("id" bigserial primary key, "workflowid" bigint not null, "stepid" bigint not null, "status" varchar(12) not null, "priority" integer not null default '0', "tasktype" varchar(64) not null, "dataspec" varchar(4000), "solutionid" bigint, "logs" varchar(512), "attempts" integer not null default '0', "max_attempts" integer not null default '1', "run_after" bigint not null, "lease_until" bigint, "claimed_by" varchar(64), "executor" varchar(8), "nodeid" bigint, "executor_ref" varchar(64), "timeout_ms" bigint, "cpus" integer not null default '1', "memory_mb" integer, "created" bigint not null, "starttime" bigint, "endtime" bigint, "reason" varchar(2000), "result" text, "wall_ms" bigint, "cpu_ms" bigint, "peak_mem_mb" integer, constraint rms_job_status_ck check (status in ('WAITING', 'READY', 'CLAIMED', 'RUNNING', 'RETRY_WAIT', 'SUCCESS', 'FAILED', 'CANCELLED')));
alter table "rms_job" add constraint "rms_job_workflowid_fk" foreign key ("workflowid") references "rms_workflow" ("id");
alter table "rms_job" add constraint "rms_job_stepid_fk" foreign key ("stepid") references "rms_step" ("id");
alter table "rms_job" add constraint "rms_job_solutionid_fk" foreign key ("solutionid") references "rms_solution" ("id");
alter table "rms_job" add constraint "rms_job_nodeid_fk" foreign key ("nodeid") references "pfs_node" ("id");
create index "rms_job_claim_ix" on "rms_job" ("status", "priority", "id");
create index "rms_job_wf_ix" on "rms_job" ("workflowid", "status", "id");
create index "rms_job_step_ix" on "rms_job" ("stepid", "status");
create index "rms_job_end_ix" on "rms_job" ("status", "endtime");
create index "rms_job_lease_ix" on "rms_job" ("lease_until");
create table "rms_job_count" ("workflowid" bigint not null, "stepid" bigint not null, "status" varchar(12) not null, "jobs" bigint not null, constraint "rms_job_count_pk" primary key ("stepid", "status"), constraint rms_job_count_status_ck check (status in ('WAITING', 'READY', 'CLAIMED', 'RUNNING', 'RETRY_WAIT', 'SUCCESS', 'FAILED', 'CANCELLED')));
alter table "rms_job_count" add constraint "rms_job_count_workflowid_fk" foreign key ("workflowid") references "rms_workflow" ("id");
alter table "rms_job_count" add constraint "rms_job_count_stepid_fk" foreign key ("stepid") references "rms_step" ("id");
create index "rms_job_count_wf_ix" on "rms_job_count" ("workflowid");
create table "rms_cron_fire" ("id" bigserial primary key, "cron_name" varchar(64) not null, "scheduled" bigint not null, "fired" bigint not null, "outcome" varchar(10) not null, "workflowid" bigint, "processid" varchar(64) not null, constraint rms_cron_fire_outcome_ck check (outcome in ('FIRED', 'CAUGHT_UP', 'SKIPPED')));
alter table "rms_cron_fire" add constraint "rms_cron_fire_workflowid_fk" foreign key ("workflowid") references "rms_workflow" ("id");
alter table "rms_cron_fire" add constraint "rms_cron_fire_once_uq" unique ("cron_name", "scheduled");
create table "rms_run_check" ("id" bigserial primary key, "sw" varchar(64) not null, "start_check" bigint not null, "end_check" bigint not null, "check_status" varchar(12) not null, "delete_status" varchar(12) not null, "note" varchar(2000), "created" bigint not null, constraint rms_run_check_check_status_ck check (check_status in ('OPEN', 'CHECKING', 'PASSED', 'FAILED')), constraint rms_run_check_delete_status_ck check (delete_status in ('KEPT', 'PENDING', 'DELETED')));
create table "pfs_log_file" ("id" bigserial primary key, "filename" varchar(512) not null, "jobid" bigint, "subsystem" varchar(8) not null, "taskname" varchar(64), "workflowid" bigint, "maxbackupnumber" integer not null, "numberofbackup" integer not null default '0', "bytes" bigint not null default '0', "created" bigint not null, "updated" bigint not null);
alter table "pfs_log_file" add constraint "pfs_log_file_jobid_fk" foreign key ("jobid") references "rms_job" ("id");
alter table "pfs_log_file" add constraint "pfs_log_file_workflowid_fk" foreign key ("workflowid") references "rms_workflow" ("id");
create index "pfs_log_file_job_ix" on "pfs_log_file" ("jobid");
create index "pfs_log_file_wf_ix" on "pfs_log_file" ("workflowid", "id");
create table "daas_query" ("id" bigserial primary key, "accountid" bigint not null, "name" varchar(200) not null, "sql_text" text not null, "shared" smallint not null default '0', "created" bigint not null, "updated" bigint not null, constraint daas_query_shared_ck check (shared in (0, 1)));
alter table "daas_query" add constraint "daas_query_accountid_fk" foreign key ("accountid") references "smas_account" ("id");
alter table "daas_query" add constraint "daas_query_name_uq" unique ("accountid", "name");

-- migration 0002_run_management
alter table "rms_job" add column "pool" varchar(32) not null default 'local', add column "backoff_ms" bigint not null default '0', add column "reclaims" integer not null default '0';
drop index "rms_job_claim_ix";
create index "rms_job_ready_ix" on "rms_job" ("status", "pool", "priority" desc, "id");
create index "rms_job_wf_id_ix" on "rms_job" ("workflowid", "id");
alter table "rms_workflow" add constraint "rms_workflow_run_uq" unique ("name", "runid");
create table "pfs_pool" ("name" varchar(32) not null, "state" varchar(8) not null, "changed" bigint not null, "changed_by" varchar(64) not null, "reason" varchar(1000), constraint "pfs_pool_pk" primary key ("name"), constraint pfs_pool_state_ck check (state in ('OPEN', 'DRAINED')));

-- migration 0003_job_indexes
drop index "rms_job_ready_ix";
drop index "rms_job_wf_ix";
drop index "rms_job_step_ix";
drop index "rms_job_end_ix";
drop index "rms_job_lease_ix";
create index "rms_job_active_ix" on "rms_job" ("status", "pool", "priority" desc, "id") where "status" in ('WAITING', 'READY', 'CLAIMED', 'RUNNING', 'RETRY_WAIT');
create index "rms_job_ended_ix" on "rms_job" ("endtime", "id") where "endtime" is not null;

-- migration 0004_job_ranges
alter table "rms_workflow" add column "first_jobid" bigint, add column "last_jobid" bigint;
update "rms_workflow" set "first_jobid" = (select min("id") from "rms_job" where "workflowid" = "rms_workflow"."id"), "last_jobid" = (select max("id") from "rms_job" where "workflowid" = "rms_workflow"."id");
drop index "rms_job_wf_id_ix";

-- migration 0005_queue_indexes
drop index "rms_job_active_ix";
create index "rms_job_ready_ix" on "rms_job" ("pool", "priority" desc, "id") where "status" in ('READY');
create index "rms_job_held_ix" on "rms_job" ("lease_until") where "status" in ('CLAIMED', 'RUNNING');
create index "rms_job_waiting_ix" on "rms_job" ("status", "run_after") where "status" in ('WAITING', 'RETRY_WAIT');

-- migration 0006_job_claims
alter table "rms_job" add column "claim" integer not null default '0', add column "lapsed_by" varchar(64);
create index "rms_job_lapsed_ix" on "rms_job" ("lapsed_by") where "lapsed_by" is not null;

-- migration 0007_job_log_store
create table "pfs_log_segment" ("id" bigserial primary key, "name" varchar(200) not null, "created" bigint not null);
alter table "pfs_log_segment" add constraint "pfs_log_segment_name_uq" unique ("name");
create index "pfs_log_segment_created_ix" on "pfs_log_segment" ("created");
create table "pfs_log_extent" ("id" bigserial primary key, "segmentid" bigint not null, "jobid" bigint not null, "attempt" integer not null, "pos" bigint not null, "bytes" bigint not null, "created" bigint not null);
alter table "pfs_log_extent" add constraint "pfs_log_extent_segmentid_fk" foreign key ("segmentid") references "pfs_log_segment" ("id");
create index "pfs_log_extent_job_ix" on "pfs_log_extent" ("jobid", "attempt");
create index "pfs_log_extent_seg_ix" on "pfs_log_extent" ("segmentid");
alter table "pfs_log_file" add column "attempt" integer, add column "segmentid" bigint, add column "pos" bigint;
alter table "pfs_log_file" drop constraint "pfs_log_file_jobid_fk";
alter table "pfs_log_file" drop constraint "pfs_log_file_workflowid_fk";

-- migration 0008_fair_share
alter table "rms_job" add column "shareid" bigint;
update "rms_job" set "shareid" = "workflowid";
create index "rms_job_share_ix" on "rms_job" ("pool", "shareid", "priority" desc, "id") where "status" in ('READY');
create table "rms_share" ("pool" varchar(32) not null, "shareid" bigint not null, "pass" bigint not null default '0', constraint "rms_share_pk" primary key ("pool", "shareid"));

-- migration 0009_job_creation
alter table "rms_job" drop constraint "rms_job_workflowid_fk";
alter table "rms_job" drop constraint "rms_job_stepid_fk";
alter table "rms_job" drop constraint "rms_job_solutionid_fk";

-- migration 0010_words
alter table "rms_workflow_def" rename to "rms_descriptor";
alter table "rms_descriptor" rename constraint "rms_workflow_def_pkey" to "rms_descriptor_pkey";
alter sequence "rms_workflow_def_id_seq" rename to "rms_descriptor_id_seq";
alter table "rms_descriptor" rename column "definition" to "descriptor";
alter table "rms_descriptor" rename constraint "rms_workflow_def_version_uq" to "rms_descriptor_version_uq";
alter table "rms_descriptor" rename constraint "rms_workflow_def_hash_uq" to "rms_descriptor_hash_uq";
alter table "rms_workflow" rename column "defid" to "descid";
alter table "rms_workflow" rename constraint "rms_workflow_defid_fk" to "rms_workflow_descid_fk";
alter table "rms_job" rename column "reclaims" to "handbacks";

-- migration 0011_accounts
alter table "smas_account" add column "failures" integer not null default '0', add column "locked_until" bigint, add column "pw_changed" bigint;
alter table "smas_session" add column "csrf" varchar(64);
create index "smas_session_account_ix" on "smas_session" ("accountid");
create table "smas_token" ("id" bigserial primary key, "accountid" bigint not null, "label" varchar(100) not null, "token_hash" varchar(64) not null, "created" bigint not null, "last_used" bigint, "expires" bigint, "revoked" bigint);
alter table "smas_token" add constraint "smas_token_accountid_fk" foreign key ("accountid") references "smas_account" ("id");
alter table "smas_token" add constraint "smas_token_hash_uq" unique ("token_hash");
create index "smas_token_account_ix" on "smas_token" ("accountid");
create index "smas_audit_user_ix" on "smas_audit" ("username", "created", "id");
create index "smas_audit_action_ix" on "smas_audit" ("action", "created", "id");

-- migration 0012_monitor
create table "smas_series" ("id" bigserial primary key, "name" varchar(64) not null, "labels" varchar(400) not null, "created" bigint not null);
alter table "smas_series" add constraint "smas_series_name_uq" unique ("name", "labels");
create table "smas_sample" ("seriesid" bigint not null, "t" bigint not null, "value" double precision not null, constraint "smas_sample_pk" primary key ("seriesid", "t"));
alter table "smas_sample" add constraint "smas_sample_seriesid_fk" foreign key ("seriesid") references "smas_series" ("id");
create index "smas_sample_t_ix" on "smas_sample" ("t");
create table "smas_rollup" ("seriesid" bigint not null, "t" bigint not null, "vmin" double precision not null, "vmax" double precision not null, "vsum" double precision not null, "n" integer not null, constraint "smas_rollup_pk" primary key ("seriesid", "t"));
alter table "smas_rollup" add constraint "smas_rollup_seriesid_fk" foreign key ("seriesid") references "smas_series" ("id");
create index "smas_rollup_t_ix" on "smas_rollup" ("t");
alter table "ems_alert" add column "cleared" bigint;

-- migration 0014_pages
alter table "ems_mission_log" add column "eventid" bigint;
alter table "ems_mission_log" add constraint "ems_mission_log_event_uq" unique ("eventid");
create index "ems_mission_log_sev_ix" on "ems_mission_log" ("severity", "created", "id");
create index "ems_mission_log_sub_ix" on "ems_mission_log" ("subsystem", "created", "id");
create index "ems_mission_log_wf_ix" on "ems_mission_log" ("workflowid", "created", "id");
drop index "ems_alert_state_ix";
create index "ems_alert_open_ix" on "ems_alert" ("state", "created", "id");
create index "ems_alert_created_ix" on "ems_alert" ("created", "id");
create index "rms_solution_dm_ix" on "rms_solution" ("dmtype", "id");
create index "rms_workflow_status_end_ix" on "rms_workflow" ("status", "endtime");
create index "smas_process_beat_ix" on "smas_process" ("heartbeat");
