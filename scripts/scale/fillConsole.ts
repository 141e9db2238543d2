/**
 * Fills the rest of the console's pages on a schema that `fill` filled with RMS data, so that
 * every page reads tables of a production size (docs/scale.md, "Console data"). Rows are made
 * server-side by `insert ... select ... from generate_series(...)` as in `fill`, with the same
 * bulk-load helpers; the few things made in this process are small (users through SMAS's
 * accounts, configuration instances, Monitor series, and the log files that lie on disk).
 *
 * - configuration instances: `configs` of them, spread over the span, each the effective
 *   configuration (as `recordConfig` stores it) with a few settings changed from the last;
 * - solutions: one per finished workflow (solution id = workflow id, its dmtype from the
 *   workflow's name), each with its workflow's configuration instance, and 1–2 rows of solution
 *   metadata: the same workflow's solution 100 runs before, and an ingest solution;
 * - the log store: one pfs_log_file row per attempt of every finished job (a FAILED job's three
 *   attempts each keep theirs), each naming a slot of `SLOT_BYTES` in segment files of
 *   `SEGMENT_JOBS` job ids. Only the segments of the last 24 h lie on disk (under `logDir`), and
 *   one long log of `longLogMb` MiB in extents of 64 KiB (a job whose log is read by parts);
 * - `audit` smas_audit rows and `missionLog` mission-log entries spread over the span,
 *   `alerts` alerts (the newest 20 open), `users` accounts;
 * - the Monitor: every series of `SERIES` for this host and a second one, raw samples for
 *   `smas.monitor.rawDays` at `intervalMs` and their roll-ups (made by SMAS's own `rollUp`), and
 *   hourly roll-ups back `monitorDays`;
 * - the Node Monitor: processing nodes pr1..pr8 (pr3 DOWN), the `slurm` pool, an earlier process.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, openSync, writeSync, closeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { Db } from '../../core/db.js';
import { systemClock } from '../../core/clock.js';
import { loadConfig } from '../../server/config.js';
import { canonicalConfig } from '../../subsystems/rms/provenance.js';
import { openAccounts } from '../../subsystems/smas/index.js';
import { SERIES } from '../../subsystems/smas/monitor.js';
import { labelText, SampleStore, type Labels } from '../../subsystems/smas/samples.js';
import { grouped, int, log, seconds, Session, timed } from './common.js';
import { dropForLoad, isSuperuser, loadSpans, rebuild, SESSION_SETTINGS, spans } from './fill.js';

export interface ConsoleFillOptions {
  schema: string;
  /** Where the log store's segments lie (pfs.jobLog.dir of the server that reads them). */
  logDir: string;
  audit: number;
  missionLog: number;
  alerts: number;
  users: number;
  configs: number;
  /** Days of hourly Monitor roll-ups, back from now. */
  monitorDays: number;
  longLogMb: number;
  chunk: number;
  parallel: number;
}

/** Job ids per log segment, and the bytes of log each job has in it (divisible by 1, 2 and 3: a job's attempts share its slot). */
export const SEGMENT_JOBS = 10_000;
export const SLOT_BYTES = 384;
const EXTENT_BYTES = 64 * 1024;
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** What the console fill made that a benchmark needs to find again. */
export interface ConsoleFilled {
  /** The job whose long log lies in extents, and a FAILED job of the last 24 h whose logs lie on disk. */
  longLogJob: number;
  failedJob: number | null;
  users: string[];
}

const sqlText = (s: string) => `'${s.replace(/'/g, "''")}'`;
const sqlArray = (list: readonly string[]) => `array[${list.map(sqlText).join(', ')}]`;

export async function fillConsole(db: Db, o: ConsoleFillOptions): Promise<ConsoleFilled> {
  const knex = db.knex;
  const started = Date.now();
  const config = loadConfig({ env: { DPC_LOG__CONSOLE: 'false' } });
  const main = await Session.open(knex, SESSION_SETTINGS);
  try {
    const range = (await main.exec<{ t0: string; w: string; j: string }>('select min(created) as t0, count(*) as w, (select max(id) from rms_job) as j from rms_workflow')).rows[0];
    const W = Number(range.w);
    const J = Number(range.j);
    if (W === 0) throw new Error(`schema ${o.schema} holds no workflows: run fill first`);
    const now = Date.now();
    const t0 = Number(range.t0);
    const span = now - t0;
    const superuser = await isSuperuser(main);
    const loaderSettings = [...SESSION_SETTINGS, ...(superuser ? ['set session_replication_role = replica'] : [])];

    const users = await timed(`${o.users} users`, async () => {
      const accounts = openAccounts(db, config);
      const roles = ['operator', 'operator', 'operator', 'scientist', 'scientist', 'scientist', 'scientist', 'admin'] as const;
      const names: string[] = [];
      for (let i = 1; i <= o.users; i++) {
        const role = roles[i % roles.length];
        const username = `${role}${String(i).padStart(3, '0')}`;
        await accounts.create({ username, role, displayName: `${role[0].toUpperCase()}${role.slice(1)} ${i}` }, { username: 'scale-fill' });
        names.push(username);
      }
      return names;
    });

    await timed(`${o.configs} configuration instances`, async () => {
      const rows = Array.from({ length: o.configs }, (_, i) => {
        const version = `0.${1 + Math.floor(i / 6)}.${i % 6}`;
        const c = loadConfig({
          env: {
            DPC_LOG__CONSOLE: 'false',
            DPC_DB__CLIENT: 'postgresql',
            DPC_PFS__LOCAL__THREADS: String(4 + (i % 4) * 4),
            DPC_RMS__RETENTION__DAYS: String(90 + 10 * (i % 3)),
            DPC_PFS__CLAIMBATCH: String(500 + 100 * (i % 5)),
            DPC_SMAS__MONITOR__INTERVALMS: String(i % 2 === 0 ? 60000 : 30000),
          },
        });
        // As recordConfig stores it: the version and the effective configuration, secrets masked.
        const content = JSON.stringify({ version, config: canonicalConfig(c) });
        return { id: i + 1, hash: createHash('sha256').update(content).digest('hex'), sw_version: version, content, created: t0 + Math.floor((i * span) / o.configs) };
      });
      await knex('rms_config').insert(rows);
    });
    // The configuration instance a workflow created at `created` ran under.
    const configOf = (created: string) => `(1 + least(${int(o.configs - 1)}, floor((${created} - ${int(t0)})::float8 * ${int(o.configs)} / ${int(span + 1)})::int))`;
    const DMTYPE = `case when w.name in ('aim.daily', 'reprocess', 'backfill') then 'AimSolution' when w.name = 'fts.daily' then 'FtsSolution' when w.name = 'ingest' then 'RawData' else 'ManualSolution' end`;

    await timed('solutions and solution metadata', async () => {
      await main.exec(
        `insert into rms_solution (id, dmtype, sw_version, configid, workflowid, generationtime, automaticallygenerated, description)
         select w.id, ${DMTYPE}, c.sw_version, c.id, w.id, w.endtime, case when w.trigger_kind in ('MANUAL', 'REPROCESS') then 0 else 1 end, w.name || ' ' || w.runid
           from rms_workflow w join rms_config c on c.id = ${configOf('w.created')}
          where w.endtime is not null`,
      );
      await main.exec(`update rms_workflow set configid = ${configOf('created')}, solutionid = case when endtime is not null then id end`);
      await main.exec(
        `insert into rms_solution_meta (inputsolutionid, outputsolutionid, inputdmtype, outputdmtype, generationtime, automaticallygenerated)
         select i.id, s.id, i.dmtype, s.dmtype, s.generationtime, s.automaticallygenerated
           from rms_solution s cross join lateral (values (s.id - 100), ((s.id / 100) * 100 - 20)) v(inp)
           join rms_solution i on i.id = v.inp
          order by s.id, i.id`,
      );
    });

    // The log store: a row per attempt of every finished job; the segments of the last day on disk.
    const segments = Math.ceil(J / SEGMENT_JOBS);
    const longSegment = segments + 1;
    await timed(`${grouped(segments + 1)} log segments`, () =>
      main.exec(
        `insert into pfs_log_segment (id, name, created)
         select k, 'scale/' || lpad(k::text, 6, '0') || '.seg', (select created from rms_job where id = (k - 1) * ${SEGMENT_JOBS} + 1)
           from generate_series(1, ${int(segments)}) k
         union all select ${int(longSegment)}, 'scale/long.seg', ${int(now - DAY_MS)}`,
      ),
    );
    const logTables = await dropForLoad(main, o.schema, ['pfs_log_file', 'smas_audit', 'ems_mission_log'], [], superuser);
    // Statements small enough that every loader has some.
    const chunkOf = (n: number) => Math.max(1, Math.min(o.chunk, Math.ceil(n / o.parallel)));
    const backups = config.pfs.local.logBackups;
    await loadSpans(knex, loaderSettings, o.parallel, 'log-file rows (jobs)', spans(J, chunkOf(J)), (a, b) =>
      `insert into pfs_log_file (filename, jobid, attempt, segmentid, pos, subsystem, taskname, workflowid, maxbackupnumber, numberofbackup, bytes, created, updated)
       select j.workflowid || '/' || j.id || '.' || a || '.log', j.id, a, (j.id - 1) / ${SEGMENT_JOBS} + 1,
              ((j.id - 1) % ${SEGMENT_JOBS}) * ${SLOT_BYTES} + (a - 1) * (${SLOT_BYTES} / j.attempts), 'pfs', j.tasktype, j.workflowid,
              ${int(backups)}, 0, ${SLOT_BYTES} / j.attempts,
              coalesce(j.starttime, j.created) + (a - 1) * (j.endtime - coalesce(j.starttime, j.created)) / j.attempts, j.endtime
         from rms_job j cross join lateral generate_series(1, j.attempts) a
        where j.id between ${int(a)} and ${int(b)} and j.endtime is not null and j.attempts > 0
        order by j.id, a`,
    );

    const userList = sqlArray(users.length > 0 ? users : ['admin']);
    const ACTIONS = ['signin', 'signout', 'workflow.pause', 'workflow.resume', 'workflow.cancel', 'workflow.retry', 'jobs.bulk-retry', 'jobs.bulk-priority', 'job.priority', 'missionlog.add', 'pool.drain', 'pool.open', 'token.add', 'signin.failed'];
    const REASONS = ['nightly reprocessing', 'operator request', 'disk full on pr3', 'calibration rerun after fix', 'maintenance window'];
    // Ids in the order of time, as one writer makes them: the loaders run side by side.
    const idBase = async (table: string) => Number((await main.exec<{ n: string }>(`select coalesce(max(id), 0) as n from "${table}"`)).rows[0].n);
    const auditBase = await idBase('smas_audit');
    await loadSpans(knex, loaderSettings, o.parallel, 'audit rows', spans(o.audit, chunkOf(o.audit)), (a, b) =>
      `insert into smas_audit (id, created, username, action, target, reason, detail, address)
       select ${int(auditBase)} + i, ${int(t0)} + (i * ${int(span)}::numeric / ${int(o.audit + 1)})::bigint, u, act,
              case when act like 'workflow.%' then 'workflow ' || (1 + i % ${int(W)}) when act like 'job%' then 'jobs of workflow ' || (1 + i % ${int(W)})
                   when act like 'pool.%' then 'pool ' || case when i % 2 = 0 then 'local' else 'slurm' end else u end,
              case when act like 'sign%' or act like 'token%' then null else (${sqlArray(REASONS)})[1 + i % ${REASONS.length}] end,
              '{"seq":' || i || '}', '10.1.' || (i % 250) || '.' || (1 + i % 200)
         from (select i, (${userList})[1 + i % ${users.length || 1}] as u, (${sqlArray(ACTIONS)})[1 + (i / 7) % ${ACTIONS.length}] as act
                 from generate_series(${int(a)}, ${int(b)}) i) x`,
    );

    // Mission-log entries: mostly the automatic ones of ended workflows, with transfers, pools and operators' notes.
    const logBase = await idBase('ems_mission_log');
    await loadSpans(knex, loaderSettings, o.parallel, 'mission-log entries', spans(o.missionLog, chunkOf(o.missionLog)), (a, b) =>
      `insert into ems_mission_log (id, created, severity, subsystem, message, username, workflowid)
       select ${int(logBase)} + i, ${int(t0)} + (i * ${int(span)}::numeric / ${int(o.missionLog + 1)})::bigint,
              case when i % 20 = 0 then 'ERROR' when i % 20 in (1, 2) then 'WARNING' when i % 20 = 3 then 'DEBUG' else 'INFO' end,
              case k when 0 then 'dts' when 1 then 'pfs' when 2 then 'ems' else 'rms' end,
              case k when 0 then 'transfer ' || i || ' DONE: ' || (10 + i % 90) || ' files verified and ingested'
                     when 1 then 'pool ' || case when i % 2 = 0 then 'local' else 'slurm' end || ' ' || case when i % 4 < 2 then 'drained for maintenance' else 'opened' end
                     when 2 then 'shift handover: ' || (${sqlArray(REASONS)})[1 + i % ${REASONS.length}]
                     else 'workflow ' || wf || ' ' || case when i % 20 = 0 then 'FAILED: jobs failed' else 'finished SUCCESS' end end,
              case when k = 2 then (${userList})[1 + i % ${users.length || 1}] end,
              case when k >= 3 then wf end
         from (select i, i % 8 as k, 1 + (i * ${int(W)}::numeric / ${int(o.missionLog + 1)})::bigint as wf from generate_series(${int(a)}, ${int(b)}) i) x`,
    );
    await timed(`${o.alerts} alerts`, () =>
      main.exec(
        `insert into ems_alert (created, severity, code, subsystem, message, dedupe, state, attempts, sent, acked, acked_by, workflowid, cleared)
         select c, case when i % 3 = 0 then 'CRITICAL' else 'ERROR' end, code, case when code = 'DISK_LOW' then 'smas' when code = 'NODE_DOWN' then 'pfs' else 'rms' end,
                case code when 'DISK_LOW' then 'disk of the DSS root has 900 MiB free' when 'NODE_DOWN' then 'node pr' || (1 + i % 8) || ' DOWN' else 'workflow ' || wf || ' failed: jobs failed' end,
                code || ':' || i, case when open then 'OPEN' else 'ACKED' end, 1, c + 1000,
                case when not open then c + 600000 end, case when not open then (${userList})[1 + i % ${users.length || 1}] end,
                case when code = 'WORKFLOW_FAILED' then wf end, case when not open and i % 2 = 0 then c + 300000 end
           from (select i, ${int(t0)} + (i * ${int(span)}::numeric / ${int(o.alerts + 1)})::bigint as c, i > ${int(o.alerts - 20)} as open,
                        (array['DISK_LOW', 'NODE_DOWN', 'WORKFLOW_FAILED', 'WORKFLOW_FAILED'])[1 + i % 4] as code, 1 + (i * ${int(W)}::numeric / ${int(o.alerts + 1)})::bigint as wf
                   from generate_series(1, ${int(o.alerts)}) i) x`,
      ),
    );

    await timed('Node Monitor: nodes, pools, an earlier process', async () => {
      await main.exec(
        `insert into pfs_node (name, executor, host, port, state, cores, memory_mb, heartbeat, detail, enabled)
         select 'pr' || k, 'ssh', 'pr' || k || '.dpc.example', 22, case when k = 3 then 'DOWN' else 'UP' end, 32, 131072,
                ${int(now)} - case when k = 3 then 7200000 else 5000 end, case when k = 3 then 'no heartbeat since 2 h' end, 1
           from generate_series(1, 8) k`,
      );
      await main.exec(`insert into pfs_pool (name, state, changed, changed_by, reason) values ('slurm', 'OPEN', ${int(now - 30 * DAY_MS)}, ${sqlText(users[0] ?? 'admin')}, 'cluster back from maintenance')`);
      await main.exec(`insert into smas_process (id, hostname, pid, version, started, heartbeat, stopped) values ('dpc2:4242:0f0f0f0f', 'dpc2', 4242, '0.1.0', ${int(now - 10 * DAY_MS)}, ${int(now - 2 * HOUR_MS)}, ${int(now - 2 * HOUR_MS)})`);
    });

    await timed('Monitor: series, samples, hourly roll-ups', async () => {
      const every = config.smas.monitor.intervalMs;
      const hosts = [hostname(), 'dpc2'];
      const list: { name: string; labels: Labels }[] = [];
      for (const name of Object.keys(SERIES)) {
        if (name === 'host.disk_free_mb') for (const host of hosts) for (const area of ['dss', 'joblog']) list.push({ name, labels: { host, area } });
        else if (name === 'queue.jobs') for (const state of ['WAITING', 'READY', 'CLAIMED', 'RUNNING', 'RETRY_WAIT']) list.push({ name, labels: { state } });
        else if (name === 'queue.ended_per_s') for (const status of ['SUCCESS', 'FAILED', 'CANCELLED']) list.push({ name, labels: { status } });
        else if (name === 'db.size_mb') list.push({ name, labels: {} });
        else for (const host of hosts) list.push({ name, labels: { host } });
      }
      // A level and a daily swing per series: a plot with a shape, not noise.
      const level = (name: string) => ({ 'host.load1': 1.5, 'host.cpu_percent': 40, 'host.mem_used_mb': 12000, 'host.mem_free_mb': 12000, 'host.disk_free_mb': 400000, 'db.ping_ms': 0.6, 'db.pool_used': 3, 'db.pool_free': 7, 'db.size_mb': 18000, 'queue.jobs': 2000, 'queue.ended_per_s': 0.5, 'queue.claim_ms': 2 })[name] ?? 1;
      const ids = (await knex('smas_series').insert(list.map((s) => ({ name: s.name, labels: labelText(s.labels), created: t0 }))).returning(['id', 'name'])) as { id: string; name: string }[];
      // Numbered 1..n, so that the loaders can share the series out by span.
      await main.exec('drop table if exists scale_series');
      await main.exec(`create unlogged table scale_series (k int, id bigint, level float8)`);
      await main.exec(`insert into scale_series values ${ids.map((r, i) => `(${i + 1}, ${int(Number(r.id))}, ${level(r.name)})`).join(', ')}`);
      const value = (t: string) => `greatest(0, s.level * (1 + 0.3 * sin(${t}::float8 * 2 * pi() / ${DAY_MS}) + 0.1 * (random() - 0.5)))`;
      const rawFrom = Math.floor((now - config.smas.monitor.rawDays * DAY_MS) / every) * every;
      const rawTo = Math.floor(now / every) * every - every; // the server's own first sample comes after
      const sampleIndexes = await dropForLoad(main, o.schema, ['smas_sample', 'smas_rollup'], [], superuser);
      await loadSpans(knex, loaderSettings, o.parallel, 'Monitor series of raw samples', spans(ids.length, Math.ceil(ids.length / o.parallel)), (a, b) =>
        `insert into smas_sample (seriesid, t, value)
         select s.id, t, ${value('t')} from scale_series s cross join generate_series(${int(rawFrom)}::bigint, ${int(rawTo)}::bigint, ${int(every)}::bigint) t
          where s.k between ${int(a)} and ${int(b)}`,
      );
      const hoursFrom = Math.floor((now - o.monitorDays * DAY_MS) / HOUR_MS) * HOUR_MS;
      const hoursTo = Math.floor(rawFrom / HOUR_MS) * HOUR_MS;
      const perHour = Math.round(HOUR_MS / every);
      await main.exec(
        `insert into smas_rollup (seriesid, t, vmin, vmax, vsum, n)
         select id, t, v * 0.9, v * 1.1, v * ${perHour}, ${perHour}
           from (select s.id, t, ${value('t')} as v from scale_series s cross join generate_series(${int(hoursFrom)}::bigint, ${int(hoursTo - HOUR_MS)}::bigint, ${HOUR_MS}::bigint) t) x`,
      );
      // The hours of the raw samples rolled up as the Monitor does it, which reads them by time.
      await rebuild(main, sampleIndexes);
      await new SampleStore(db, systemClock).rollUp(hoursTo, rawTo + every);
      await main.exec('drop table scale_series');
    });

    const sequences = ['rms_config', 'rms_solution', 'pfs_log_segment', 'smas_audit', 'ems_mission_log'];
    for (const t of sequences) await main.exec(`select setval(pg_get_serial_sequence('"${o.schema}"."${t}"', 'id'), (select max(id) from "${t}"))`);

    // The log files that lie on disk: the segments of the last day's jobs, and the long log.
    const filled = await timed('log files on disk', async () => {
      const firstToday = (await main.exec<{ id: string | null }>(`select min(id) as id from rms_job where created >= ${int(now - DAY_MS)}`)).rows[0].id;
      const fromSegment = firstToday === null ? segments : Math.floor((Number(firstToday) - 1) / SEGMENT_JOBS) + 1;
      let bytes = 0;
      for (let k = fromSegment; k <= segments; k++) bytes += await writeSegment(main, o.logDir, k, J);
      const long = (await main.exec<{ id: string; workflowid: string; tasktype: string; starttime: string }>(
        `select id, workflowid, tasktype, starttime from rms_job where status = 'SUCCESS' and attempts = 1 and id >= ${int(Number(firstToday ?? J))} order by id desc limit 1`,
      )).rows[0];
      const longBytes = writeLongLog(join(o.logDir, 'scale/long.seg'), Number(long.id), long.tasktype, Number(long.starttime), o.longLogMb * 2 ** 20);
      // Its log lies in extents, as a long job's does (written while it ran), not in its row.
      await main.exec(`update pfs_log_file set segmentid = null, pos = null, bytes = ${int(longBytes)} where jobid = ${int(Number(long.id))} and attempt = 1`);
      await main.exec(
        `insert into pfs_log_extent (segmentid, jobid, attempt, pos, bytes, created)
         select ${int(longSegment)}, ${int(Number(long.id))}, 1, p, least(${EXTENT_BYTES}, ${int(longBytes)} - p), ${int(Number(long.starttime))} + p / ${EXTENT_BYTES} * 1000
           from generate_series(0, ${int(longBytes - 1)}, ${EXTENT_BYTES}) p`,
      );
      const failed = (await main.exec<{ id: string }>(`select id from rms_job where status = 'FAILED' and id >= ${int((fromSegment - 1) * SEGMENT_JOBS + 1)} order by id desc limit 1`)).rows[0];
      log(`  ${segments - fromSegment + 1} segments of ${grouped(bytes)} bytes, and a long log of ${grouped(longBytes)} bytes (job ${long.id}) under ${o.logDir}`);
      return { longLogJob: Number(long.id), failedJob: failed ? Number(failed.id) : null, users };
    });

    await main.exec('set session_replication_role = origin');
    await timed('vacuum analyze', async () => {
      for (const t of ['rms_workflow', 'rms_config', 'rms_solution', 'rms_solution_meta', 'pfs_log_segment', 'pfs_log_file', 'pfs_log_extent', 'smas_audit', 'ems_mission_log', 'ems_alert', 'smas_series', 'smas_sample', 'smas_rollup', 'smas_account', 'pfs_node']) await main.exec(`vacuum (analyze) "${t}"`);
    });
    await rebuild(main, logTables);
    log(`console data filled in ${seconds(Date.now() - started)}`);
    return filled;
  } finally {
    await main.release();
  }
}

/** The lines of one attempt of a job's log, cut or padded to exactly `size` bytes, the last byte a newline. */
function attemptLog(job: { id: number; workflowid: number; tasktype: string; starttime: number; reason: string | null }, attempt: number, attempts: number, failed: boolean, size: number): Buffer {
  const at = (s: number) => new Date(job.starttime + s * 1000).toISOString();
  const lines = [
    `${at(0)} INFO ${job.tasktype} job ${job.id} of workflow ${job.workflowid}, attempt ${attempt}: started`,
    `${at(1)} INFO read 1 input, ${100 + (job.id % 900)} records`,
    failed && attempt === attempts ? `${at(2)} ERROR ${job.reason ?? 'failed'}` : attempt < attempts ? `${at(2)} WARN attempt ${attempt} failed, retrying` : `${at(2)} INFO wrote 1 output`,
  ];
  const buf = Buffer.alloc(size, 0x20);
  Buffer.from(lines.join('\n')).copy(buf, 0, 0, size - 1);
  buf[size - 1] = 0x0a;
  return buf;
}

/** Writes segment `k` (its jobs' slots) under `dir`; returns its size. */
async function writeSegment(main: Session, dir: string, k: number, lastJob: number): Promise<number> {
  const first = (k - 1) * SEGMENT_JOBS + 1;
  const last = Math.min(lastJob, k * SEGMENT_JOBS);
  const rows = (
    await main.exec<{ id: string; workflowid: string; tasktype: string; status: string; attempts: number; starttime: string | null; created: string; reason: string | null }>(
      `select id, workflowid, tasktype, status, attempts, starttime, created, reason from rms_job where id between ${int(first)} and ${int(last)} and endtime is not null and attempts > 0`,
    )
  ).rows;
  const buf = Buffer.alloc((last - first + 1) * SLOT_BYTES, 0x0a);
  for (const r of rows) {
    const job = { id: Number(r.id), workflowid: Number(r.workflowid), tasktype: r.tasktype, starttime: Number(r.starttime ?? r.created), reason: r.reason };
    const part = SLOT_BYTES / r.attempts;
    for (let a = 1; a <= r.attempts; a++) attemptLog(job, a, r.attempts, r.status === 'FAILED', part).copy(buf, (job.id - first) * SLOT_BYTES + (a - 1) * part);
  }
  const path = join(dir, `scale/${String(k).padStart(6, '0')}.seg`);
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, buf);
  } finally {
    closeSync(fd);
  }
  return buf.length;
}

/** A log of about `bytes` bytes of whole lines, as a long job writes it; returns its exact size. */
function writeLongLog(path: string, jobid: number, tasktype: string, starttime: number, bytes: number): number {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'w');
  let written = 0;
  let line = 0;
  try {
    while (written < bytes) {
      const parts: string[] = [];
      for (let i = 0; i < 1000; i++, line++) parts.push(`${new Date(starttime + line * 10).toISOString()} INFO ${tasktype} job ${jobid}: iteration ${line}, residual ${(1 / (line + 1)).toExponential(6)}\n`);
      written += writeSync(fd, parts.join(''));
    }
  } finally {
    closeSync(fd);
  }
  return written;
}
