/**
 * Fills a PostgreSQL schema with RMS data at the DPCT's scale: workflows, their steps, step
 * dependencies, jobs and per-step job counts, all made server-side by
 * `insert ... select ... from generate_series(...)`.
 *
 * The shape of the data:
 * - 1 workflow descriptor; `workflows` workflows, ids 1..N, `created` spread evenly over
 *   `years` years up to now (so the last day holds a day's worth), runid unique per name;
 * - 3 steps per workflow, a dependency chain step1 <- step2 <- step3;
 * - `jobs` jobs in all, at least 3 per workflow (one per step), the rest shared out by weight:
 *   30 % of workflows small (weight 0.05..0.2), the others Pareto (min(300, u^-0.7)), so
 *   most workflows have tens to hundreds of jobs and some thousands (up to ~15 000);
 *   ids follow the workflows, so `created` increases with id;
 * - about 4 % of workflows are troubled: ~12.5 % of their finished jobs FAILED (so ~0.5 %
 *   FAILED jobs overall, those of the last day ending today); the newest finished workflow
 *   is always one, so that some failed in the last 24 h at any scale; finished troubled
 *   workflows are FAILED, the others SUCCESS with only SUCCESS jobs;
 * - the newest 0.05 % of workflows (~13 h of them) are RUNNING: step 1 done, step 2 40 %
 *   READY, 5 % RUNNING, a few CLAIMED and RETRY_WAIT (a few thousand jobs at full scale,
 *   priorities -1..10, pools 'local' and 'slurm' (every 5th workflow)), step 3 WAITING;
 * - rms_job_count: 8 rows per step, equal to the jobs' states.
 *
 * For speed the secondary indexes of rms_job and rms_job_count are dropped during the load
 * and built again afterwards from their own descriptors (pg_get_indexdef), foreign keys
 * are not checked row by row (session_replication_role = replica for a superuser, else
 * dropped and re-added, which validates them), and commits are asynchronous.
 */
import type { Knex } from 'knex';
import type { Db } from '../../core/db.js';
import { migrate } from '../../sql/migrate.js';
import { grouped, int, log, schemaSize, seconds, Session, timed } from './common.js';
import { JOB_STATUSES } from '../../subsystems/rms/work.js';

export interface FillOptions {
  workflows: number;
  jobs: number;
  /** Jobs per insert statement. */
  chunk: number;
  /** Loader connections working at once. */
  parallel: number;
  years: number;
  schema: string;
  /** Drop the schema first if it holds data. */
  reset: boolean;
  /** Jobs of finished workflows name their workflow's solution (SOLUTIONID), whose rows fillConsole makes: solution id = workflow id. */
  solutions?: boolean;
}

const HEAVY_TABLES = ['rms_job', 'rms_job_count'];
const FK_TABLES = ['rms_workflow', 'rms_step', 'rms_step_dep', 'rms_job', 'rms_job_count'];

export const SESSION_SETTINGS = ["set synchronous_commit = off", "set work_mem = '256MB'", "set maintenance_work_mem = '1GB'", 'set max_parallel_maintenance_workers = 2'];

/** What a bulk load took down and must make again: secondary indexes, and foreign keys where they could not be switched off. */
export interface Unindexed {
  indexes: { name: string; def: string }[];
  fks: { tbl: string; name: string; def: string }[];
}

export async function isSuperuser(main: Session): Promise<boolean> {
  return (await main.exec<{ s: boolean }>('select rolsuper as s from pg_roles where rolname = current_user')).rows[0].s;
}

/**
 * Drops the indexes of `tables` that are not constraints and, without superuser (which
 * switches foreign keys off with session_replication_role), the foreign keys of `fkTables`,
 * keeping their definitions for `rebuild`.
 */
export async function dropForLoad(main: Session, schema: string, tables: string[], fkTables: string[], superuser: boolean): Promise<Unindexed> {
  const schemaLit = `'${schema}'`; // checked identifier
  const list = (names: string[]) => names.map((t) => `'${t}'`).join(', ');
  const indexes = (
    await main.exec<{ name: string; def: string }>(
      `select i.relname as name, pg_get_indexdef(i.oid) as def
         from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid
         join pg_namespace n on n.oid = t.relnamespace
        where n.nspname = ${schemaLit} and t.relname in (${list(tables)})
          and not exists (select 1 from pg_constraint c where c.conindid = x.indexrelid)`,
    )
  ).rows;
  const fks =
    superuser || fkTables.length === 0
      ? []
      : (
          await main.exec<{ tbl: string; name: string; def: string }>(
            `select t.relname as tbl, c.conname as name, pg_get_constraintdef(c.oid) as def
               from pg_constraint c join pg_class t on t.oid = c.conrelid join pg_namespace n on n.oid = t.relnamespace
              where n.nspname = ${schemaLit} and c.contype = 'f' and t.relname in (${list(fkTables)})`,
          )
        ).rows;
  await timed(`drop ${indexes.length} secondary indexes${fks.length ? ` and ${fks.length} foreign keys` : ''}`, async () => {
    for (const ix of indexes) await main.exec(`drop index "${ix.name}"`);
    for (const fk of fks) await main.exec(`alter table "${fk.tbl}" drop constraint "${fk.name}"`);
  });
  return { indexes, fks };
}

/** Makes again what dropForLoad took down (after a vacuum: the builds then read clean pages). */
export async function rebuild(main: Session, u: Unindexed): Promise<void> {
  for (const ix of u.indexes) await timed(`index ${ix.name}`, () => main.exec(ix.def));
  for (const fk of u.fks) await timed(`foreign key ${fk.tbl}.${fk.name}`, () => main.exec(`alter table "${fk.tbl}" add constraint "${fk.name}" ${fk.def}`));
}

/** The id spans [a, b] of 1..total, `chunk` at a time. */
export function spans(total: number, chunk: number): [number, number][] {
  const out: [number, number][] = [];
  for (let a = 1; a <= total; a += chunk) out.push([a, Math.min(total, a + chunk - 1)]);
  return out;
}

/** Runs one statement per span on `parallel` connections at once, each with `settings`, logging the progress of `what`. */
export async function loadSpans(knex: Knex, settings: string[], parallel: number, what: string, list: [number, number][], sql: (a: number, b: number) => string): Promise<number> {
  const total = list.reduce((n, [a, b]) => n + b - a + 1, 0);
  const started = Date.now();
  let next = 0;
  let done = 0;
  const loader = async () => {
    const s = await Session.open(knex, settings);
    try {
      for (;;) {
        const i = next++;
        if (i >= list.length) return;
        const [a, b] = list[i];
        await s.exec(sql(a, b));
        done += b - a + 1;
        const el = Date.now() - started;
        log(`${what} ${grouped(done)} / ${grouped(total)} (${((100 * done) / total).toFixed(1)} %), ${seconds(el)}, ${grouped(done / (el / 1000))} rows/s`);
      }
    } finally {
      await s.release();
    }
  };
  await timed(`${what} (${list.length} statements, ${parallel} at once)`, () => Promise.all(Array.from({ length: Math.min(parallel, list.length) }, loader)));
  return Date.now() - started;
}

export async function fill(db: Db, o: FillOptions): Promise<void> {
  if (o.jobs < 3 * o.workflows) throw new Error(`--jobs must be at least 3 per workflow (${3 * o.workflows} for ${o.workflows} workflows)`);
  const knex = db.knex;
  const started = Date.now();

  const existing = (await knex.raw('select 1 from pg_namespace where nspname = ?', [o.schema])) as { rows: unknown[] };
  if (existing.rows.length > 0) {
    const filled = (await knex.raw(`select exists (select 1 from pg_tables where schemaname = ? and tablename = 'rms_workflow') as t`, [o.schema])) as { rows: { t: boolean }[] };
    const hasRows = filled.rows[0].t && ((await knex.raw('select exists (select 1 from ??.rms_workflow) as r', [o.schema])) as { rows: { r: boolean }[] }).rows[0].r;
    if (hasRows && !o.reset) throw new Error(`schema ${o.schema} already holds workflows: pass --reset to drop it and fill it again`);
    if (o.reset) await knex.raw('drop schema ?? cascade', [o.schema]);
  }
  await timed('migrate', () => migrate(db, { schema: o.schema }));

  const W = o.workflows;
  const J = o.jobs;
  let loadMs = 0;
  const main = await Session.open(knex, SESSION_SETTINGS);
  try {
    const superuser = await isSuperuser(main);
    const loaderSettings = [...SESSION_SETTINGS, ...(superuser ? ['set session_replication_role = replica'] : [])];
    const unindexed = await dropForLoad(main, o.schema, HEAVY_TABLES, FK_TABLES, superuser);
    if (superuser) await main.exec('set session_replication_role = replica');

    const now = Date.now();
    const span = Math.round(o.years * 365.25 * 86_400_000);
    const t0 = now - span;
    const gap = Math.floor(span / W); // ms between two workflows
    const active = Math.max(1, Math.round(W * 0.0005)); // the newest workflows, still running: ~13 h of them
    const extra = J - 3 * W;

    // The plan of every workflow: where its jobs start, how many, how they split in steps.
    await timed(`plan ${grouped(W)} workflows`, async () => {
      await main.exec('drop table if exists scale_wf');
      await main.exec('select setseed(0.42)');
      await main.exec(
        `create unlogged table scale_wf as
         with w as (
           select i::bigint as id,
                case when random() < 0.3 then 0.05 + 0.15 * random() else least(300.0, power(1.0 - random(), -0.7)) end as weight,
                random() as u
           from generate_series(1, ${int(W)}) i
         ), c as (
           select id, u, sum(weight) over (order by id) as cum, sum(weight) over () as total from w
         ), e as (
           select id, u, case when id = ${int(W)} then ${int(J)}::bigint else 3 * id + floor(${int(extra)} * (cum / total))::bigint end as jend from c
         )
         select id, coalesce(lag(jend) over (order by id), 0) as jstart, jend,
                (id > ${int(W - active)}) as active,
                (u < 0.04 or id = ${int(W - active)}) as troubled
           from e`,
      );
      await main.exec(
        `alter table scale_wf add column jcount int, add column c1 int, add column c2 int`,
      );
      await main.exec(
        `update scale_wf set jcount = jend - jstart, c1 = greatest(1, floor((jend - jstart) * 0.6)), c2 = greatest(1, floor((jend - jstart) * 0.3))`,
      );
      await main.exec('alter table scale_wf add primary key (id)');
      await main.exec('create index on scale_wf (jstart)');
      await main.exec('analyze scale_wf');
    });
    const stats = (
      await main.exec<{ maxc: number; minc: number; over1000: number; total: number }>(
        `select max(jcount) as maxc, min(jcount) as minc, count(*) filter (where jcount >= 1000) as over1000, sum(jcount)::bigint as total from scale_wf`,
      )
    ).rows[0];
    if (Number(stats.total) !== J) throw new Error(`plan holds ${stats.total} jobs, not ${J}`);
    log(`plan: ${grouped(J)} jobs, per workflow min ${stats.minc}, mean ${(J / W).toFixed(1)}, max ${grouped(stats.maxc)}, ${grouped(stats.over1000)} workflows with 1000+`);

    await timed('descriptor, workflows, steps, dependencies', async () => {
      await main.exec(
        `insert into rms_descriptor (id, name, version, hash, descriptor, created)
         values (1, 'scale', 1, md5('scale'), '{"steps":[{"name":"calibrate"},{"name":"reduce","after":["calibrate"]},{"name":"publish","after":["reduce"]}]}', ${int(t0)})`,
      );
      // Names and how they start: 40 % aim.daily and 30 % fts.daily by cron, 20 % ingest on data,
      // then reprocessing, backfills and a few manual runs.
      await main.exec(
        `insert into rms_workflow (id, name, descid, status, persistenceid, runid, transferid, trigger_kind, params, priority,
                                   solutionid, configid, parentid, created_by, created, starttime, endtime, reason, first_jobid, last_jobid)
         select id, kind[1], 1,
                case when active then 'RUNNING' when troubled then 'FAILED' else 'SUCCESS' end,
                null, 'run-' || id, null, kind[2], '{"seq":' || id || '}', case when kind[2] = 'REPROCESS' then -1 else 0 end,
                null, null, null, kind[3], created, created,
                case when active then null else created + ${int(gap)} * 9 / 10 + 660000 end,
                case when troubled and not active then 'jobs failed' end,
                case when jend > jstart then jstart + 1 end, case when jend > jstart then jend end
           from (select w.*, ${int(t0)} + (w.id - 1) * ${int(gap)} as created,
                        case when w.id % 100 < 40 then array['aim.daily', 'CRON', 'cron']
                             when w.id % 100 < 70 then array['fts.daily', 'CRON', 'cron']
                             when w.id % 100 < 90 then array['ingest', 'DATA', 'dts']
                             when w.id % 100 < 95 then array['reprocess', 'REPROCESS', 'operator']
                             when w.id % 100 < 99 then array['backfill', 'BACKFILL', 'operator']
                             else array['manual', 'MANUAL', 'operator'] end as kind
                   from scale_wf w) x`,
      );
      await main.exec(
        `insert into rms_step (id, workflowid, name, tasktype, status, position, starttime, endtime)
         select (w.id - 1) * 3 + k, w.id, (array['calibrate', 'reduce', 'publish'])[k], (array['aim.calibrate', 'aim.reduce', 'aim.publish'])[k],
                case when not w.active then case when w.troubled and k = 3 then 'FAILED' else 'SUCCESS' end
                     when k = 1 then 'SUCCESS' when k = 2 then 'RUNNING' else 'WAITING' end,
                k, case when w.active and k = 3 then null else c.created end,
                case when w.active and k > 1 then null else c.created + ${int(gap)} * 9 / 10 + 660000 end
           from scale_wf w cross join generate_series(1, 3) k
           cross join lateral (select ${int(t0)} + (w.id - 1) * ${int(gap)} as created) c`,
      );
      await main.exec(
        `insert into rms_step_dep (stepid, upstreamid)
         select (w.id - 1) * 3 + k, (w.id - 1) * 3 + k - 1 from scale_wf w cross join generate_series(2, 3) k`,
      );
      await main.exec('create unlogged table scale_count (workflowid bigint, stepid bigint, status varchar(12), n bigint)');
    });

    // The jobs, chunk by chunk of ids, on `parallel` connections at once.
    const maxCount = Number(stats.maxc);
    const jobSql = (a: number, b: number) => `
      with ins as (
        insert into rms_job (id, workflowid, stepid, status, priority, tasktype, dataspec, solutionid, logs, attempts, max_attempts,
                             run_after, lease_until, claimed_by, executor, nodeid, executor_ref, timeout_ms, cpus, memory_mb, created,
                             starttime, endtime, reason, result, wall_ms, cpu_ms, peak_mem_mb, pool, backoff_ms, handbacks)
        select j, wfid, (wfid - 1) * 3 + k, status,
               case when status in ('READY', 'CLAIMED', 'RUNNING', 'RETRY_WAIT') then (array[0, 0, 0, 0, 1, 1, 2, 5, 10, -1])[1 + floor(u2 * 10)::int] else 0 end,
               (array['aim.calibrate', 'aim.reduce', 'aim.publish'])[k],
               '{"wf":' || wfid || ',"chunk":' || r || '}', ${o.solutions ? 'case when not active then wfid end' : 'null'},
               case when fin then 'wf/' || wfid || '/' || j || '.log' end,
               case when status = 'FAILED' then 3 when status in ('WAITING', 'READY') then 0 when u3 < 0.01 then 2 else 1 end, 3,
               case when status = 'RETRY_WAIT' then ${int(now)} + 60000 else created end,
               case when status in ('CLAIMED', 'RUNNING') then ${int(now)} + 60000 end,
               case when status in ('CLAIMED', 'RUNNING') then 'scale-host:4242:ab12cd34' end,
               case when fin or status = 'RUNNING' then 'local' end, null,
               case when fin or status = 'RUNNING' then 'pid:' || (j % 4000000) end,
               3600000, 1, 2048, created,
               case when fin or status = 'RUNNING' then least(${int(now)}, started) end,
               case when fin then least(${int(now)}, started + wall) end,
               case when status = 'FAILED' then 'exit status 1: calibration did not converge' end,
               case when status = 'SUCCESS' then '{"outputs":1}' end,
               case when fin then wall end, case when fin then wall * 9 / 10 end, case when fin then 200 + floor(u3 * 1800)::int end,
               pool, 1000, 0
          from (
            select *, status in ('SUCCESS', 'FAILED', 'CANCELLED') as fin
              from (
                select *,
                       case when active and k = 3 then 'WAITING'
                            when active and k = 2 and u1 < 0.40 then 'READY'
                            when active and k = 2 and u1 < 0.45 then 'RUNNING'
                            when active and k = 2 and u1 < 0.455 then 'CLAIMED'
                            when active and k = 2 and u1 < 0.46 then 'RETRY_WAIT'
                            when troubled and (u1 >= 0.875 or (not active and r = jcount)) then 'FAILED'
                            else 'SUCCESS' end as status,
                       created + 1000 + floor(u2 * 59000)::bigint as started,
                       1000 + floor(u3 * u3 * 600000)::bigint as wall
                from (
                  select j, w.id as wfid, w.jcount, w.active, w.troubled, j - w.jstart as r,
                         case when j - w.jstart <= w.c1 then 1 when j - w.jstart <= w.c1 + w.c2 then 2 else 3 end as k,
                         ${int(t0)} + (w.id - 1) * ${int(gap)} + (j - w.jstart) * ${int(gap)} / (w.jcount + 1) as created,
                         case when w.id % 5 = 0 then 'slurm' else 'local' end as pool,
                         random() as u1, random() as u2, random() as u3
                    from scale_wf w
                    cross join lateral generate_series(greatest(w.jstart + 1, ${int(a)}), least(w.jend, ${int(b)})) j
                   where w.jstart >= ${int(Math.max(0, a - 1 - maxCount))} and w.jstart < ${int(b)} and w.jend >= ${int(a)}
                  offset 0 -- a fence: each random() is drawn once per row, not once per reference
                ) g
              ) s
          ) f
        returning workflowid, stepid, status
      )
      insert into scale_count select workflowid, stepid, status, count(*) from ins group by 1, 2, 3`;

    const chunks = spans(J, o.chunk);
    loadMs = await loadSpans(knex, loaderSettings, o.parallel, 'jobs', chunks, jobSql);

    await timed('job counts (8 per step)', async () => {
      await main.exec(
        `insert into rms_job_count (workflowid, stepid, status, jobs)
         select s.workflowid, s.id, st.status, coalesce(c.n, 0)
           from rms_step s cross join unnest(array[${JOB_STATUSES.map((x) => `'${x}'`).join(', ')}]::varchar[]) st(status)
           left join (select stepid, status, sum(n)::bigint as n from scale_count group by 1, 2) c on c.stepid = s.id and c.status = st.status
          order by s.id, st.status`,
      );
      // Steps of finished failed workflows that hold failed jobs are FAILED too.
      await main.exec(
        `update rms_step s set status = 'FAILED' from rms_job_count c
          where c.stepid = s.id and c.status = 'FAILED' and c.jobs > 0 and s.status = 'SUCCESS'`,
      );
    });
    const check = (
      await main.exec<{ jobs: number }>(`select sum(jobs)::bigint as jobs from rms_job_count`)
    ).rows[0];
    if (Number(check.jobs) !== J) throw new Error(`job counts add up to ${check.jobs}, not ${J}`);

    await timed('sequences', async () => {
      for (const t of ['rms_descriptor', 'rms_workflow', 'rms_step', 'rms_job']) {
        await main.exec(`select setval(pg_get_serial_sequence('"${o.schema}"."${t}"', 'id'), (select max(id) from "${t}"))`);
      }
    });
    await main.exec('drop table scale_wf');
    await main.exec('drop table scale_count');
    await main.exec('set session_replication_role = origin');

    // Vacuum before the indexes: it sets hint bits and the visibility map once, so the index
    // builds read clean pages and index-only scans work from the start.
    await timed('vacuum analyze', async () => {
      for (const t of ['rms_descriptor', 'rms_workflow', 'rms_step', 'rms_step_dep', 'rms_job', 'rms_job_count']) await main.exec(`vacuum (analyze) "${t}"`);
    });
    await rebuild(main, unindexed);
    await main.exec('checkpoint').catch(() => undefined); // superuser or pg_checkpoint only: a courtesy to the queries that follow
  } finally {
    await main.release();
  }

  const total = Date.now() - started;
  log(`filled ${o.schema}: ${grouped(W)} workflows, ${grouped(3 * W)} steps, ${grouped(J)} jobs, ${grouped(24 * W)} job counts`);
  log(`jobs loaded in ${seconds(loadMs)} (${grouped(J / (loadMs / 1000))} rows/s); total ${seconds(total)} (${grouped(J / (total / 1000))} jobs/s overall)`);
  for (const r of await schemaSize(knex, o.schema)) log(`  ${r.table.padEnd(20)} ${grouped(r.rows).padStart(12)} rows  heap ${r.heap.padStart(8)}  indexes ${r.indexes.padStart(8)}  total ${r.total.padStart(8)}`);
}
