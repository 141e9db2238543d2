import type { Knex } from 'knex';
import { chunks, defineQuery, dialectOf } from '../../../core/query.js';

/** What an executor needs of a job to run it. */
export const JOB_SPEC_COLUMNS = [
  'id', 'workflowid', 'stepid', 'tasktype', 'dataspec', 'priority', 'solutionid', 'attempts', 'max_attempts',
  'backoff_ms', 'timeout_ms', 'cpus', 'memory_mb', 'claim',
] as const;

export const JOB_COLUMNS = [
  ...JOB_SPEC_COLUMNS, 'pool', 'handbacks', 'lapsed_by', 'status', 'logs', 'run_after', 'lease_until', 'claimed_by', 'executor', 'nodeid', 'executor_ref',
  'created', 'starttime', 'endtime', 'reason', 'result', 'wall_ms', 'cpu_ms', 'peak_mem_mb',
] as const;

/** What every job of a step is created with; only its data specification differs from job to job. */
export interface StepJobs {
  workflowid: number;
  stepid: number;
  status: 'WAITING' | 'READY';
  priority: number;
  tasktype: string;
  solutionid: number;
  max_attempts: number;
  backoff_ms: number;
  run_after: number;
  timeout_ms: number | null;
  cpus: number;
  memory_mb: number | null;
  pool: string;
  /** The request the jobs share a pool's places with (fair share): the first workflow of a backfill, or their own. */
  shareid: number;
  created: number;
}

/** The columns a creation writes, in the order of the statements below: the data specification last. */
const CREATED_COLUMNS = [
  'workflowid', 'stepid', 'status', 'priority', 'tasktype', 'solutionid', 'max_attempts', 'backoff_ms', 'run_after', 'timeout_ms', 'cpus', 'memory_mb', 'pool', 'shareid', 'created',
] as const satisfies readonly (keyof StepJobs)[];

const PG_CREATED_TYPES: Record<(typeof CREATED_COLUMNS)[number], string> = {
  workflowid: 'bigint', stepid: 'bigint', status: 'text', priority: 'integer', tasktype: 'text', solutionid: 'bigint', max_attempts: 'integer',
  backoff_ms: 'bigint', run_after: 'bigint', timeout_ms: 'bigint', cpus: 'integer', memory_mb: 'integer', pool: 'text', shareid: 'bigint', created: 'bigint',
};

const STEP_JOBS_EXAMPLE: StepJobs = {
  workflowid: 1, stepid: 1, status: 'READY', priority: 0, tasktype: 'aim.calibrate', solutionid: 1, max_attempts: 3, backoff_ms: 1000,
  run_after: 1767225600000, timeout_ms: 60000, cpus: 1, memory_mb: null, pool: 'local', shareid: 1, created: 1767225600000,
};

/**
 * On PostgreSQL, a step's jobs in one statement: what they share bound once, their data
 * specifications as one array (its text, see textArray), so that ten thousand jobs are
 * fifteen parameters. It returns
 * how many it made and the first and last of their ids, not a row per job: the ids make the
 * workflow's range of jobs (rms_workflow.first_jobid, last_jobid).
 */
export const insertStepJobs = defineQuery(
  'rms.insertStepJobs',
  { jobs: STEP_JOBS_EXAMPLE, dataspecs: '{"{\\"i\\":0}","{\\"i\\":1}"}' },
  (knex, p) =>
    knex.raw(
      `with made as (insert into ?? (${CREATED_COLUMNS.map(() => '??').join(', ')}, ??)
        select ${CREATED_COLUMNS.map((c) => `?::${PG_CREATED_TYPES[c]}`).join(', ')}, u.dataspec from unnest(?::text[]) as u(dataspec) returning id)
      select count(*) as n, min(id) as first, max(id) as last from made`,
      ['rms_job', ...CREATED_COLUMNS, 'dataspec', ...CREATED_COLUMNS.map((c) => p.jobs[c]), p.dataspecs],
    ),
  ['postgresql'],
);

/**
 * On SQLite and Oracle, one job of a step: the statement is prepared once and run for each of
 * the step's jobs (SQLite), or bound to arrays of them (Oracle's executeMany), in the order
 * of CREATED_COLUMNS then the data specification. On Oracle it returns the job's id into
 * its last bind.
 */
export const insertStepJob = defineQuery(
  'rms.insertStepJob',
  { jobs: STEP_JOBS_EXAMPLE, dataspec: '{"i":0}' },
  (knex, p, dialect) => {
    const columns = [...CREATED_COLUMNS, 'dataspec'];
    const sql = `insert into ?? (${columns.map(() => '??').join(', ')}) values (${columns.map(() => '?').join(', ')})`;
    const bindings = ['rms_job', ...columns, ...CREATED_COLUMNS.map((c) => p.jobs[c]), p.dataspec];
    return dialect === 'oracle' ? knex.raw(`${sql} returning ?? into ?`, [...bindings, 'id', 0]) : knex.raw(sql, bindings);
  },
  ['sqlite', 'oracle'],
);

/** Jobs per PostgreSQL statement or Oracle round trip: big enough that the per-statement cost vanishes, small enough to bound the memory of one. */
const CREATE_CHUNK = 10_000;

/**
 * Creates a step's jobs, one per data specification, in the caller's transaction, and
 * returns the first and last of their ids (null for none).
 */
export async function createStepJobs(trx: Knex.Transaction, jobs: StepJobs, dataspecs: readonly string[]): Promise<{ first: number; last: number } | null> {
  if (dataspecs.length === 0) return null;
  const dialect = dialectOf(trx);
  let first = Infinity;
  let last = -Infinity;
  const span = (ids: Iterable<number>) => {
    for (const id of ids) {
      if (id < first) first = id;
      if (id > last) last = id;
    }
  };
  if (dialect === 'postgresql') {
    // This thread writes the next chunk's array while PostgreSQL inserts the one before.
    const parts = chunks(dataspecs, CREATE_CHUNK);
    let array = textArray(parts[0]);
    for (let i = 0; i < parts.length; i++) {
      const sent = insertStepJobs(trx, { jobs, dataspecs: array }).then((r) => (r as { rows: { n: string; first: string; last: string }[] }).rows[0]);
      await new Promise((r) => setImmediate(r));
      array = i + 1 < parts.length ? textArray(parts[i + 1]) : '';
      const made = await sent;
      if (Number(made.n) !== parts[i].length) throw new Error(`${parts[i].length} jobs to create in step ${jobs.stepid}, ${made.n} made`);
      span([Number(made.first), Number(made.last)]);
    }
  } else if (dialect === 'sqlite') {
    // Knex's client costs tens of µs a row; the driver's prepared statement a few.
    const { sql, bindings } = insertStepJob(trx, { jobs, dataspec: '' }).toSQL();
    const conn = (await trx.client.acquireConnection()) as SqliteConnection;
    const statement = conn.prepare(sql);
    const row = [...bindings];
    const at = row.length - 1;
    for (let i = 0; i < dataspecs.length; i++) {
      row[at] = dataspecs[i];
      const id = Number(statement.run(row).lastInsertRowid);
      if (i === 0) first = id;
      last = id;
    }
    // Under the one writer a transaction's rowids follow each other; say so if they ever do not.
    if (last - first + 1 !== dataspecs.length) span([first, last]);
  } else {
    const oracledb = (await import('oracledb')).default;
    const { sql, bindings } = insertStepJob(trx, { jobs, dataspec: '' }).toSQL().toNative();
    const conn = (await trx.client.acquireConnection()) as OracleConnection;
    // The shared values; each row adds its data specification, and the id comes back through bindDefs.
    const shared = bindings.slice(0, CREATED_COLUMNS.length);
    const bindDefs = [
      ...CREATED_COLUMNS.map((c) => (typeof STEP_JOBS_EXAMPLE[c] === 'string' ? { type: oracledb.STRING, maxSize: 64 } : { type: oracledb.NUMBER })),
      { type: oracledb.STRING, maxSize: 4000 },
      { type: oracledb.NUMBER, dir: oracledb.BIND_OUT },
    ];
    for (const part of chunks(dataspecs, CREATE_CHUNK)) {
      const rows = part.map((dataspec) => [...shared, dataspec]);
      const result = await conn.executeMany(sql, rows, { bindDefs, autoCommit: false });
      span((result.outBinds ?? []).map((out) => Number(out[0][0])));
    }
  }
  return { first, last };
}

interface SqliteConnection {
  prepare(sql: string): { run(params: unknown[]): { lastInsertRowid: number | bigint } };
}

interface OracleConnection {
  executeMany(sql: string, rows: unknown[][], options: object): Promise<{ outBinds?: number[][][] }>;
}

/** The jobs of a workflow: their ids lie between the first and the last its creation recorded; null when it has none. */
export interface JobRange {
  workflowid: number;
  first: number | null;
  last: number | null;
}

/** A workflow's range of jobs, from its rms_workflow row. */
export function jobRange(wf: { id: number | string; first_jobid: number | string | null; last_jobid: number | string | null }): JobRange {
  return { workflowid: Number(wf.id), first: wf.first_jobid === null ? null : Number(wf.first_jobid), last: wf.last_jobid === null ? null : Number(wf.last_jobid) };
}

/**
 * Limits a query to the jobs of a workflow, through the primary key. Jobs of workflows
 * created at the same time may lie in the range: the workflow tells them apart. The bounds
 * are values, not a subquery: the planner then sees a short range of the key (read by a
 * subquery, the range looked large and got a parallel scan, 30 ms at 40 million jobs).
 */
function ofWorkflow(q: Knex.QueryBuilder, range: JobRange): Knex.QueryBuilder {
  if (range.first === null || range.last === null) return q.whereRaw('1 = 0');
  return q.where('rms_job.workflowid', range.workflowid).whereBetween('rms_job.id', [range.first, range.last]);
}

const RANGE_EXAMPLE: JobRange = { workflowid: 1, first: 1, last: 500 };

export const selectJob = defineQuery('rms.selectJob', { id: 1 }, (knex, p) => knex('rms_job').select(JOB_COLUMNS).where('id', p.id));

/** Jobs by id with their step, for a change that must know where each one stands. */
export const selectJobStates = defineQuery('rms.selectJobStates', { ids: [1, 2] }, (knex, p, dialect) => {
  const q = knex('rms_job').select('id', 'workflowid', 'stepid', 'status', 'attempts', 'max_attempts', 'backoff_ms', 'claimed_by').whereIn('id', p.ids);
  return dialect === 'sqlite' ? q : q.forUpdate();
});

/** What a claim writes of a job besides its state: its holder, lease, and one more claim (which fences the holder's moves). */
export function claimedColumns(knex: Knex, p: { claimedBy: string; leaseUntil: number; now: number }): Record<string, unknown> {
  return { claimed_by: p.claimedBy, lease_until: p.leaseUntil, starttime: p.now, claim: knex.raw('?? + 1', ['rms_job.claim']) };
}

/**
 * What a claim gives one share of a pool: up to `limit` of its READY jobs, highest priority
 * first, then oldest; of priority `priority` only, or above `above` only, when other shares
 * have READY jobs too (see share.ts).
 */
export interface ClaimLeg {
  shareid: number;
  limit: number;
  priority: number | null;
  above: number | null;
}

const LEGS_EXAMPLE: ClaimLeg[] = [
  { shareid: 1, limit: 60, priority: 0, above: null },
  { shareid: 7, limit: 40, priority: 0, above: null },
];

/** A leg's jobs in claim order, through rms_job_share_ix. */
function legIds(knex: Knex, pool: string, leg: ClaimLeg) {
  const q = knex('rms_job').select('id').where({ status: 'READY', pool, shareid: leg.shareid });
  if (leg.priority !== null) q.andWhere('priority', leg.priority);
  if (leg.above !== null) q.andWhere('priority', '>', leg.above);
  return q.orderBy([{ column: 'priority', order: 'desc' }, { column: 'id' }]);
}

/** What a claim returns: what an executor needs, and the share, which the claim counts. */
const CLAIM_COLUMNS = [...JOB_SPEC_COLUMNS, 'shareid'] as const;

/**
 * Claims the jobs of a pool that the legs name for a process, and returns what an executor
 * needs to run them, in one statement (rows in no given order). On PostgreSQL rows another
 * process is claiming are skipped, not waited for. Oracle cannot return the rows of a
 * many-row update: there the queue locks them (`selectClaimable`), then moves them.
 */
export const claimJobs = defineQuery(
  'rms.claimJobs',
  { pool: 'local', legs: LEGS_EXAMPLE, claimedBy: 'host:123:ab12', leaseUntil: 1767225630000, now: 1767225600000 },
  (knex, p, dialect) => {
    const set = { ...claimedColumns(knex, p), status: 'CLAIMED' };
    const legs = p.legs.map((leg) => legIds(knex, p.pool, leg).limit(leg.limit));
    if (dialect === 'sqlite') {
      // Each leg in a derived table: SQLite takes no ORDER BY or LIMIT in a leg of a UNION.
      const picked = legs.length === 1 ? legs[0] : legs.map((leg, i) => knex.select('id').from(leg.as(`l${i}`))).reduce((a, b) => a.unionAll(b));
      return knex('rms_job').update(set).whereIn('id', picked).returning(CLAIM_COLUMNS);
    }
    // Each leg's locked pick runs once, as an array the update reads through the primary key:
    // a join to it would be planned as a hash of the whole table. `array?` wraps the subquery
    // knex writes in parentheses.
    const arrays = legs.map(() => 'array?').join(' || ');
    return knex('rms_job').update(set).whereRaw(`?? = any(${arrays})`, ['rms_job.id', ...legs.map((leg) => leg.forUpdate().skipLocked())]).returning(CLAIM_COLUMNS);
  },
  ['sqlite', 'postgresql'],
);

/**
 * On PostgreSQL, a claim, its counts and what its shares were given in one statement,
 * committed on its own: a claim never ends a step (the jobs it moves stay active), so it
 * needs nothing else in its transaction, and one statement is one round trip where BEGIN,
 * the claim, the counts and COMMIT were five. The count rows are locked in (step, state)
 * order, the order every transaction that writes counts takes them (see
 * JobWork.flushCounts), before they are changed. Each share's pass is raised to `floor`,
 * then by its jobs times its `perJob` (see `addSharePass`).
 */
export const claimJobsCounted = defineQuery(
  'rms.claimJobsCounted',
  { ...claimJobs.example, floor: 0, perJob: [{ shareid: 1, add: 1000 }, { shareid: 7, add: 500 }] },
  (knex, p) =>
    knex.raw(
      `with picked as (?),
      moved as (select stepid, count(*) as n from picked group by stepid),
      locked as materialized (
        select c.stepid, c.status, case when c.status = 'READY' then -m.n else m.n end as delta
        from rms_job_count c join moved m on m.stepid = c.stepid
        where c.status in ('READY', 'CLAIMED')
        order by c.stepid, c.status for update of c),
      counted as (update rms_job_count c set jobs = c.jobs + l.delta from locked l where c.stepid = l.stepid and c.status = l.status),
      given as (select shareid, count(*) as n from picked group by shareid),
      shared as (
        update rms_share r set pass = case when r.pass < ? then ? else r.pass end + g.n * v.per_job
        from given g join unnest(?::bigint[], ?::bigint[]) as v(shareid, per_job) on v.shareid = g.shareid
        where r.pool = ? and r.shareid = g.shareid)
      select * from picked`,
      [claimJobs(knex, p), p.floor, p.floor, `{${p.perJob.map((s) => s.shareid).join(',')}}`, `{${p.perJob.map((s) => s.add).join(',')}}`, p.pool],
    ),
  ['postgresql'],
);

/**
 * On Oracle, the jobs the legs name with what an executor needs, locked for the claim (see
 * `claimJobs`). Oracle cannot lock a FETCH FIRST, so it locks what bounded subqueries picked. The claim read is the one
 * before the claim's move adds one.
 */
export const selectClaimable = defineQuery(
  'rms.selectClaimable',
  { pool: 'local', legs: LEGS_EXAMPLE },
  (knex, p) => {
    const picked = p.legs
      .map((leg, i) => knex.select('id').from(legIds(knex, p.pool, leg).as(`l${i}`)).whereRaw('rownum <= ?', [leg.limit]))
      .reduce((a, b) => a.unionAll(b));
    return knex('rms_job').select(CLAIM_COLUMNS).whereIn('id', picked).andWhere('status', 'READY').forUpdate().skipLocked();
  },
  ['oracle'],
);

/** The PostgreSQL array type of each column whose value differs from job to job. */
const PER_JOB_TYPES = { result: 'text', wall_ms: 'bigint', cpu_ms: 'bigint', peak_mem_mb: 'integer', logs: 'text' } as const;

export type PerJobColumn = keyof typeof PER_JOB_TYPES;

/** Values of a change that differ from job to job, by column then job id. */
export type PerJob = Partial<Record<PerJobColumn, ReadonlyMap<number, string | number | null>>>;

/**
 * Moves jobs between states. With `claims`, only the jobs still at the claim their mover
 * holds move: a job handed back and claimed again since (by any process) is left alone. On
 * PostgreSQL the ids, their claims and each job's own values go as arrays, joined through
 * unnest: a batch is a handful of parameters, not thousands, and each row finds its values
 * by the join instead of down a CASE as long as the batch.
 */
export const moveJobs = defineQuery(
  'rms.moveJobs',
  {
    ids: [1, 2],
    from: 'READY',
    to: 'CLAIMED',
    set: { claimed_by: 'host:123:ab12' } as Record<string, unknown>,
    /** Counters to add one to: attempts when a job ends, handbacks when it is handed back after its lease lapsed. */
    increment: [] as ('attempts' | 'handbacks')[],
    /** The claim of each job its mover holds (rms_job.claim), or null for a move that is not a holder's. */
    claims: new Map([[1, 1], [2, 1]]) as ReadonlyMap<number, number> | null,
    /** Columns whose value differs from job to job (each job's result, log), with a value for each id. */
    perJob: { result: new Map([[1, '{"n":2}']]) } as PerJob,
  },
  (knex, p, dialect) => {
    const set: Record<string, unknown> = { ...p.set, status: p.to };
    for (const column of p.increment) set[column] = knex.raw('?? + 1', [`rms_job.${column}`]);
    const perJob = Object.entries(p.perJob) as [PerJobColumn, ReadonlyMap<number, string | number | null>][];
    const claims = p.claims;
    const pg = dialect === 'postgresql';
    for (const [column, byId] of perJob) {
      set[column] = pg ? knex.ref(`v.${column}`) : knex.raw(`case ?? ${p.ids.map(() => 'when ? then ?').join(' ')} end`, ['id', ...p.ids.flatMap((id) => [id, byId.get(id) ?? null])]);
    }
    const q = knex('rms_job').update(set).where('rms_job.status', p.from);
    if (!pg) {
      if (claims === null) return q.whereIn('rms_job.id', p.ids);
      return q.whereIn(['rms_job.id', 'rms_job.claim'], p.ids.map((id) => [id, claimOf(claims, id)]));
    }
    // The ids as an array for the primary key, whether or not values join to them.
    const ids = numberArray(p.ids);
    q.whereRaw('?? = any(?::bigint[])', ['rms_job.id', ids]);
    if (perJob.length === 0 && claims === null) return q;
    const columns = [...(claims === null ? [] : [['claim', 'integer'] as const]), ...perJob.map(([column]) => [column, PER_JOB_TYPES[column]] as const)];
    // Arrays are bound whole, each as one array literal.
    const values = [
      ...(claims === null ? [] : [numberArray(p.ids.map((id) => claimOf(claims, id)))]),
      ...perJob.map(([column, byId]) => {
        const list = p.ids.map((id) => byId.get(id) ?? null);
        return PER_JOB_TYPES[column] === 'text' ? list : numberArray(list as (number | null)[]);
      }),
    ] as unknown as Knex.RawBinding[];
    const arrays = columns.map(([, type]) => `, ?::${type}[]`).join('');
    const from = knex.raw(`unnest(?::bigint[]${arrays}) as v(id${columns.map(([column]) => `, ${column}`).join('')})`, [ids, ...values]);
    q.updateFrom(from).whereRaw('?? = ??', ['rms_job.id', 'v.id']);
    return claims === null ? q : q.whereRaw('?? = ??', ['rms_job.claim', 'v.claim']);
  },
);

function claimOf(claims: ReadonlyMap<number, number>, id: number): number {
  const claim = claims.get(id);
  if (claim === undefined) throw new Error(`moveJobs: job ${id} has no claim to fence its move by`);
  return claim;
}

/**
 * A PostgreSQL array literal of numbers, written in one join: pg's own writer quotes each
 * element and builds the text piece by piece, garbage a batch of hundreds of ids need not make.
 */
function numberArray(values: readonly (number | null)[]): string {
  return `{${values.map((v) => (v === null ? 'NULL' : String(v))).join(',')}}`;
}

/**
 * A PostgreSQL array literal of texts, written in one pass: each element quoted, its quotes
 * and backslashes escaped.
 */
function textArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
}

/**
 * Renews the leases of the jobs a process runs, by id: a job it claimed but does not run (it
 * stopped the run, or never learnt of the claim because the answer was lost) lapses and is
 * handed back, rather than being held for as long as the process lives.
 */
export const renewJobLeases = defineQuery('rms.renewJobLeases', { ids: [1, 2], claimedBy: 'host:123:ab12', until: 1767225630000 }, (knex, p, dialect) => {
  const q = knex('rms_job').update({ lease_until: p.until }).whereIn('status', ['CLAIMED', 'RUNNING']).andWhere('claimed_by', p.claimedBy);
  return dialect === 'postgresql' ? q.whereRaw('?? = any(?::bigint[])', ['id', numberArray(p.ids)]) : q.whereIn('id', p.ids);
});

/** Where the given jobs stand and who holds them at which claim: an executor stops those it no longer holds. */
export const selectJobClaims = defineQuery('rms.selectJobClaims', { ids: [1, 2] }, (knex, p) =>
  knex('rms_job').select('id', 'status', 'claimed_by', 'claim').whereIn('id', p.ids),
);

/**
 * Takes back the hand-backs counted for the jobs whose lease a process let lapse: it came back,
 * alive, having stopped its runs itself. Once only: the lapsed holder is cleared.
 */
export const forgiveLapses = defineQuery('rms.forgiveLapses', { processId: 'host:123:ab12' }, (knex, p) =>
  knex('rms_job')
    .update({ handbacks: knex.raw('case when ?? > 0 then ?? - 1 else 0 end', ['rms_job.handbacks', 'rms_job.handbacks']), lapsed_by: null })
    .where('lapsed_by', p.processId),
);

/**
 * Held jobs whose lease lapsed: their process died or lost the database. `holder_alive` is 1
 * when the holder beat in smas_process after the lease lapsed: a dead process cannot, so the
 * hand-back is not a death to count.
 */
export const selectToHandBack = defineQuery('rms.selectToHandBack', { now: 1767225600000, limit: 500 }, (knex, p) =>
  knex('rms_job as j')
    .join('rms_workflow as w', 'w.id', 'j.workflowid')
    .leftJoin('smas_process as h', 'h.id', 'j.claimed_by')
    .select('j.id', 'j.workflowid', 'j.stepid', 'j.status', 'j.handbacks', 'j.claim', 'j.claimed_by', 'w.status as wfstatus')
    .select(knex.raw('case when h.heartbeat > j.lease_until and h.stopped is null then 1 else 0 end as holder_alive'))
    .where('j.lease_until', '<', p.now)
    .whereIn('j.status', ['CLAIMED', 'RUNNING'])
    .orderBy('j.lease_until')
    .limit(p.limit),
);

/** Jobs waiting out a retry delay that is over. */
export const selectDueRetries = defineQuery('rms.selectDueRetries', { now: 1767225600000, limit: 500 }, (knex, p) =>
  knex('rms_job as j')
    .join('rms_workflow as w', 'w.id', 'j.workflowid')
    .select('j.id', 'j.workflowid', 'j.stepid', 'j.status', 'j.claim', 'w.status as wfstatus')
    .where('j.status', 'RETRY_WAIT')
    .andWhere('j.run_after', '<=', p.now)
    .orderBy('j.run_after')
    .limit(p.limit),
);

/** Jobs of a workflow in the given states (resume failed, cancel, pause), paged by key. */
export const selectWorkflowJobs = defineQuery(
  'rms.selectWorkflowJobs',
  { jobs: RANGE_EXAMPLE, statuses: ['FAILED'], after: 0, limit: 1000 },
  (knex, p) =>
    ofWorkflow(knex('rms_job').select('id', 'workflowid', 'stepid', 'status'), p.jobs)
      .whereIn('status', p.statuses)
      .andWhere('id', '>', p.after)
      .orderBy('id')
      .limit(p.limit),
);

/** A job's priority, changed only while it waits. */
export const setJobPriority = defineQuery('rms.setJobPriority', { id: 1, priority: 10 }, (knex, p) =>
  knex('rms_job').update({ priority: p.priority }).where('id', p.id).whereIn('status', ['WAITING', 'READY', 'RETRY_WAIT']),
);

/** The jobs of a workflow for the console: by id, paged by key, optionally one state. */
export const listJobs = defineQuery(
  'rms.listJobs',
  { jobs: RANGE_EXAMPLE, status: null as string | null, after: 0, limit: 50 },
  (knex, p) => {
    const q = ofWorkflow(knex('rms_job').select(JOB_COLUMNS), p.jobs).andWhere('id', '>', p.after).orderBy('id').limit(p.limit);
    if (p.status !== null) q.andWhere('status', p.status);
    return q;
  },
);

/** Failed jobs that ended since a time (today's failures), newest first, paged by (endtime, id). */
export const listFailedSince = defineQuery(
  'rms.listFailedSince',
  { since: 1767225600000, beforeEnd: null as number | null, beforeId: 0, limit: 50 },
  (knex, p) => {
    const q = knex('rms_job').select(JOB_COLUMNS).where('status', 'FAILED').andWhere('endtime', '>=', p.since).orderBy('endtime', 'desc').orderBy('id', 'desc').limit(p.limit);
    // Keyset without a row-value comparison, which Oracle lacks.
    if (p.beforeEnd !== null) {
      const end = p.beforeEnd;
      q.andWhere((w) => w.where('endtime', '<', end).orWhere((x) => x.where('endtime', end).andWhere('id', '<', p.beforeId)));
    }
    return q;
  },
);

/**
 * The queue as PFS sees it: READY jobs of a pool in claim order, paged by (priority, id).
 * A later page is two bounded range scans of the claim index, the rest of the page's
 * priority and the lower priorities, rather than one condition with an OR, which would read
 * every entry before the page (400 ms for a page 400 000 jobs deep).
 */
export const listQueue = defineQuery(
  'rms.listQueue',
  { pool: 'local', afterPriority: null as number | null, afterId: 0, limit: 50 },
  (knex, p) => {
    const ready = () => knex('rms_job').select(JOB_COLUMNS).where({ status: 'READY', pool: p.pool });
    const byPriority = [{ column: 'priority', order: 'desc' as const }, { column: 'id' }];
    if (p.afterPriority === null) return ready().orderBy(byPriority).limit(p.limit);
    const samePriority = ready().andWhere('priority', p.afterPriority).andWhere('id', '>', p.afterId).orderBy('id').limit(p.limit);
    const lowerPriority = ready().andWhere('priority', '<', p.afterPriority).orderBy(byPriority).limit(p.limit);
    // Each leg in a derived table: SQLite takes no ORDER BY or LIMIT in a leg of a UNION.
    const legs = knex.select('*').from(samePriority.as('a')).unionAll(knex.select('*').from(lowerPriority.as('b')));
    return knex.select('*').from(legs.as('q')).orderBy(byPriority).limit(p.limit);
  },
);

/** All jobs of a step from one state to another, as a step starts, pauses or resumes; found through their workflow. */
export const moveStepJobs = defineQuery(
  'rms.moveStepJobs',
  { jobs: RANGE_EXAMPLE, stepid: 1, from: 'WAITING', to: 'READY', set: {} as Record<string, unknown> },
  (knex, p) => ofWorkflow(knex('rms_job').update({ ...p.set, status: p.to }), p.jobs).andWhere({ stepid: p.stepid, status: p.from }),
);

/** What reprocessing copies from a workflow: each job's step, state and data specification. */
export const selectJobSpecs = defineQuery('rms.selectJobSpecs', { jobs: RANGE_EXAMPLE, after: 0, limit: 5000 }, (knex, p) =>
  ofWorkflow(knex('rms_job').select('id', 'stepid', 'status', 'dataspec'), p.jobs).andWhere('id', '>', p.after).orderBy('id').limit(p.limit),
);
