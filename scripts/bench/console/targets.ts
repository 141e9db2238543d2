/**
 * What the console benchmark loads: one line per view, its page and its JSON twin under /api
 * (either may be absent), built from keys found on the filled database before the load.
 * Adding a view is adding a line. A target whose route answers 404 is reported "(not built)"
 * and skipped: pages that are being built (the Workflow Manager's) are listed already.
 */
import type { Knex } from 'knex';

/** The ids, days and page keys the URLs are built from. */
export interface Keys {
  /** A whole UTC day of the filled data (yesterday): YYYY-MM-DD, and its bounds in Unix ms. */
  day: string;
  dayFrom: number;
  dayTo: number;
  /** The newest running workflow, and the workflow with the most jobs. */
  running: number;
  biggest: number;
  /** A READY job of a running workflow: why is it not running? */
  waitingJob: number;
  /** A FAILED job of the last 24 h (its logs lie on disk), and the job with a long log in extents. */
  failedJob: number;
  longLogJob: number;
  /** The newest solution with metadata (not one of the feeder's). */
  solution: number;
  configA: number;
  configB: number;
  user: string;
  /** The key of a page `deepPages` pages of 50 deep, taken from the pages before it, per table. */
  deep: { workflows: string; jobs: string; logs: string; missionLog: string; audit: string; solutions: string };
}

export interface Target {
  name: string;
  page?: (k: Keys) => string;
  api?: (k: Keys) => string;
}

const q = (params: Record<string, string | number>) => `?${new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)])).toString()}`;

export const TARGETS: Target[] = [
  { name: 'Welcome', page: () => '/', api: () => '/api/smas/overview' },
  { name: 'workflows, first page', page: () => '/rms/workflows', api: () => '/api/rms/workflows' },
  { name: 'workflows, deep keyset page', page: (k) => `/rms/workflows${q({ before: k.deep.workflows })}`, api: (k) => `/api/rms/workflows${q({ before: k.deep.workflows })}` },
  { name: 'workflows, by state (FAILED)', page: () => '/rms/workflows?status=FAILED', api: () => '/api/rms/workflows?status=FAILED' },
  { name: 'workflows, by day', page: (k) => `/rms/workflows${q({ day: k.day })}`, api: (k) => `/api/rms/workflows${q({ day: k.day })}` },
  { name: 'one workflow (running)', page: (k) => `/rms/workflows/${k.running}`, api: (k) => `/api/rms/workflows/${k.running}` },
  { name: 'jobs of the biggest workflow, first page', page: (k) => `/rms/jobs${q({ workflow: k.biggest })}`, api: (k) => `/api/rms/jobs/query${q({ workflow: k.biggest })}` },
  { name: 'jobs of the biggest workflow, deep keyset page', page: (k) => `/rms/jobs${q({ workflow: k.biggest, after: k.deep.jobs })}`, api: (k) => `/api/rms/jobs/query${q({ workflow: k.biggest, after: k.deep.jobs })}` },
  { name: 'jobs, by state and day (FAILED)', page: (k) => `/rms/jobs${q({ status: 'FAILED', finishedFrom: k.dayFrom, finishedTo: k.dayTo })}`, api: (k) => `/api/rms/jobs/query${q({ status: 'FAILED', finishedFrom: k.dayFrom, finishedTo: k.dayTo })}` },
  { name: 'grid (aim.daily, 25 workflows)', page: () => '/rms/grid?name=aim.daily&n=25', api: () => '/api/rms/grid?name=aim.daily&n=25' },
  { name: 'failure triage (today)', page: () => '/rms/triage', api: () => '/api/rms/triage' },
  { name: 'why is this job not running', page: (k) => `/rms/jobs/${k.waitingJob}`, api: (k) => `/api/rms/jobs/${k.waitingJob}/why` },
  { name: 'Node Monitor', page: () => '/pfs/nodes', api: () => '/api/pfs/nodes' },
  { name: 'Logs, first page', page: () => '/pfs/logs', api: () => '/api/pfs/logs' },
  { name: 'Logs, deep keyset page', page: (k) => `/pfs/logs${q({ before: k.deep.logs })}`, api: (k) => `/api/pfs/logs${q({ before: k.deep.logs })}` },
  { name: 'Logs of a workflow', page: (k) => `/pfs/logs${q({ workflow: k.biggest })}`, api: (k) => `/api/pfs/logs${q({ workflow: k.biggest })}` },
  { name: 'job log, failed, first attempt', page: (k) => `/pfs/jobs/${k.failedJob}/log?attempt=1`, api: (k) => `/api/pfs/jobs/${k.failedJob}/log?attempt=1&tail=200` },
  { name: 'job log, long (tail of many MiB)', page: (k) => `/pfs/jobs/${k.longLogJob}/log`, api: (k) => `/api/pfs/jobs/${k.longLogJob}/log?tail=200` },
  { name: 'job log, long, a byte range', page: (k) => `/pfs/jobs/${k.longLogJob}/log?offset=1048576`, api: (k) => `/api/pfs/jobs/${k.longLogJob}/log?offset=1048576&length=65536` },
  { name: 'Mission log, first page', page: () => '/ems/mission-log', api: () => '/api/ems/mission-log' },
  { name: 'Mission log, deep keyset page', page: (k) => `/ems/mission-log${q({ before: k.deep.missionLog })}`, api: (k) => `/api/ems/mission-log${q({ before: k.deep.missionLog })}` },
  { name: 'Mission log, by severity (ERROR)', page: () => '/ems/mission-log?severity=ERROR', api: () => '/api/ems/mission-log?severity=ERROR' },
  { name: 'Mission log, by day', page: (k) => `/ems/mission-log${q({ from: k.day, to: k.dayTo })}`, api: (k) => `/api/ems/mission-log${q({ from: k.day, to: k.dayTo })}` },
  { name: 'Alerts', page: () => '/ems/alerts?state=all', api: () => '/api/ems/alerts?state=all' },
  { name: 'Audit, first page', page: () => '/smas/audit', api: () => '/api/smas/audit' },
  { name: 'Audit, deep keyset page', page: (k) => `/smas/audit${q({ before: k.deep.audit })}`, api: (k) => `/api/smas/audit${q({ before: k.deep.audit })}` },
  { name: 'Audit, of a user', page: (k) => `/smas/audit${q({ user: k.user })}`, api: (k) => `/api/smas/audit${q({ user: k.user })}` },
  { name: 'Configuration Tracking, first page', page: () => '/rms/solutions', api: () => '/api/rms/solutions' },
  { name: 'Configuration Tracking, deep keyset page', page: (k) => `/rms/solutions${q({ before: k.deep.solutions })}`, api: (k) => `/api/rms/solutions${q({ before: k.deep.solutions })}` },
  { name: 'a solution with its metadata', page: (k) => `/rms/solutions/${k.solution}`, api: (k) => `/api/rms/solutions/${k.solution}/metadata` },
  { name: 'diff of two configuration instances', page: (k) => `/rms/configs/diff${q({ a: k.configA, b: k.configB })}`, api: (k) => `/api/rms/configs/diff${q({ a: k.configA, b: k.configB })}` },
  { name: 'Monitor, last day', page: () => '/smas/monitor?range=1d', api: () => '/api/smas/monitor?range=1d' },
  { name: 'Monitor, a year', page: () => '/smas/monitor?range=1y', api: () => '/api/smas/monitor?range=1y' },
];

type Get = (path: string) => Promise<unknown>;

/** What a page of an API says of itself: how many rows it holds, and the key of the next one (none at the end). */
type Paged = (json: unknown) => { rows: number; next: string | undefined };

/**
 * The key of the page `pages` pages of 50 rows deep, reached by walking the API's pages of
 * 500 (the same keys: a key is a row's, whatever the page size); in a table not that deep,
 * the key of its last page that holds rows.
 */
async function deepKey(get: Get, path: (key: string | undefined) => string, read: Paged, pages: number): Promise<string> {
  let key: string | undefined;
  let found: string | undefined;
  // The page that begins `rows` deep is read (it must hold rows) before its key counts.
  for (let rows = 0; rows <= pages * 50; rows += 500) {
    const page = read(await get(path(key)));
    if (page.rows === 0) break;
    found = key;
    if (page.next === undefined) break;
    key = page.next;
  }
  if (found === undefined) throw new Error(`no second page at ${path(undefined)}: the table is too small for a deep page`);
  return found;
}

const byLastId = (field: string): Paged => (json) => {
  const rows = (json as Record<string, { id: unknown }[]>)[field];
  return { rows: rows.length, next: rows.length === 500 ? String(rows[rows.length - 1].id) : undefined };
};
const byNext = (field: string): Paged => (json) => {
  const j = json as Record<string, unknown>;
  return { rows: (j[field] as unknown[]).length, next: typeof j.next === 'string' ? j.next : undefined };
};
const withKey = (base: string, name: string) => (key: string | undefined) => `${base}${base.includes('?') ? '&' : '?'}limit=500${key === undefined ? '' : `&${name}=${encodeURIComponent(key)}`}`;

/** Finds the keys: ids from the database (outside the timings), page keys from the API, as an operator's clicks would. */
export async function findKeys(knex: Knex, get: Get, deepPages: number, now: number): Promise<Keys> {
  const one = async (sql: string): Promise<number> => {
    const rows = ((await knex.raw(sql)) as { rows: { id: unknown }[] }).rows;
    if (rows.length === 0 || rows[0].id === null) throw new Error(`the filled data has nothing for: ${sql}`);
    return Number(rows[0].id);
  };
  const dayFrom = now - (now % 86_400_000) - 86_400_000;
  // A filled running workflow, one with READY jobs: an earlier run's feeder workflows, stopped with it, have none.
  const running = await one(
    `select max(w.id) as id from rms_workflow w where w.status = 'RUNNING' and exists (select 1 from rms_job j where j.id between w.first_jobid and w.last_jobid and j.status = 'READY')`,
  );
  const biggest = await one('select id from rms_workflow order by last_jobid - first_jobid desc nulls last limit 1');
  return {
    day: new Date(dayFrom).toISOString().slice(0, 10),
    dayFrom,
    dayTo: dayFrom + 86_400_000,
    running,
    biggest,
    waitingJob: await one(`select min(id) as id from rms_job where status = 'READY' and id >= (select first_jobid from rms_workflow where id = ${running})`),
    failedJob: await one(`select max(id) as id from rms_job where status = 'FAILED'`),
    longLogJob: await one('select min(jobid) as id from pfs_log_extent'),
    solution: await one('select max(outputsolutionid) as id from rms_solution_meta'),
    configA: await one('select min(id) as id from rms_config'),
    configB: await one('select max(id) as id from rms_config'),
    user: String(((await knex.raw(`select username from smas_account where role = 'operator' order by id limit 1`)) as { rows: { username: string }[] }).rows[0]?.username ?? ''),
    deep: {
      workflows: await deepKey(get, withKey('/api/rms/workflows', 'before'), byLastId('workflows'), deepPages),
      jobs: await deepKey(get, withKey(`/api/rms/jobs/query?workflow=${biggest}`, 'after'), byNext('jobs'), deepPages),
      logs: await deepKey(get, withKey('/api/pfs/logs', 'before'), byLastId('files'), deepPages),
      missionLog: await deepKey(get, withKey('/api/ems/mission-log', 'before'), byLastId('entries'), deepPages),
      audit: await deepKey(get, withKey('/api/smas/audit', 'before'), byNext('entries'), deepPages),
      solutions: await deepKey(get, withKey('/api/rms/solutions', 'before'), byLastId('solutions'), deepPages),
    },
  };
}
