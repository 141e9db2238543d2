import { createServer, type Server } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { SUBSYSTEM_NAMES } from '../../core/subsystem.js';
import { compileMigrations } from '../../sql/migrate.js';
import { testDialect, testEnv, type TestEnv } from '../helpers/env.js';
import { killChildren, readLog, runCli, serveDpc, type CliResult } from '../helpers/server.js';

let t: TestEnv;
beforeEach(async () => {
  t = await testEnv();
});
afterEach(async () => {
  await killChildren();
  await t.cleanup();
});

/** A start that must fail: exit 2 and one line on stderr, `dpc: ` and the cause. */
function expectRefused(result: CliResult, cause: string | RegExp): void {
  expect(result.signal).toBeNull();
  expect(result.stderr.endsWith('\n')).toBe(true);
  const lines = result.stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^dpc: /);
  if (typeof cause === 'string') expect(lines[0]).toBe(`dpc: ${cause}`);
  else expect(lines[0]).toMatch(cause);
  expect(result.code).toBe(2);
}

describe('dpc serve refuses to start', () => {
  test('with an unknown key in the environment', async () => {
    expectRefused(await runCli(['serve'], { ...t.env, DPC_HTTP__PROT: '1' }), 'config: unknown key http.prot (from DPC_HTTP__PROT)');
  });

  test('with an unknown key in the configuration file', async () => {
    const file = join(t.dir, 'dpc.json');
    writeFileSync(file, JSON.stringify({ db: { sqlite: { pth: 'x.sqlite' } } }));
    expectRefused(await runCli(['--config', file, 'serve'], t.env), 'config: unknown key db.sqlite.pth');
    expectRefused(await runCli(['serve'], { ...t.env, DPC_CONFIG: file }), 'config: unknown key db.sqlite.pth');
  });

  test('with a configuration file that does not exist', async () => {
    const file = join(t.dir, 'absent.json');
    expectRefused(await runCli(['--config', file, 'serve'], t.env), `config: cannot read ${file}: ENOENT`);
  });

  test('with a value of the wrong type', async () => {
    expectRefused(await runCli(['serve'], { ...t.env, DPC_HTTP__PORT: 'eighty' }), 'config: http.port must be a number; got "eighty"');
  });

  test('with a database client it does not know', async () => {
    expectRefused(
      await runCli(['serve'], { ...t.env, DPC_DB__CLIENT: 'mysql' }),
      'config: db.client must be one of sqlite, postgresql, oracle; got "mysql"',
    );
  });

  test('when PostgreSQL is unreachable', async () => {
    const env = { ...t.env, DPC_DB__CLIENT: 'postgresql', DPC_DB__POSTGRESQL__PORT: '1', DPC_DB__CONNECTTIMEOUTMS: '1000' };
    expectRefused(await runCli(['serve'], env), /^dpc: database: cannot connect to PostgreSQL \S+@127\.0\.0\.1:1\/\S+ \(schema \w+\): .*ECONNREFUSED/);
  });

  test('when PostgreSQL takes the connection but never answers, within the connect timeout', async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    const port = (silent.address() as { port: number }).port;
    try {
      const env = { ...t.env, DPC_DB__CLIENT: 'postgresql', DPC_DB__POSTGRESQL__PORT: String(port), DPC_DB__CONNECTTIMEOUTMS: '1000' };
      const started = Date.now();
      const result = await runCli(['serve'], env);
      expectRefused(result, new RegExp(`^dpc: database: cannot connect to PostgreSQL \\S+@127\\.0\\.0\\.1:${port}/\\S+ \\(schema \\w+\\): no answer within 1000 ms$`));
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      silent.close();
    }
  });

  test('when the SQLite database would be under a regular file', async () => {
    const file = join(t.dir, 'a-file');
    writeFileSync(file, '');
    const env = { ...t.env, DPC_DB__CLIENT: 'sqlite', DPC_DB__SQLITE__PATH: join(file, 'dpc.sqlite') };
    expectRefused(await runCli(['serve'], env), `database: cannot write the SQLite database at ${join(file, 'dpc.sqlite')}: ENOTDIR`);
  });

  test('when the SQLite database would be where no directory can be made (/proc)', async () => {
    // Node's recursive mkdir spins for ever here; the server must give up at once.
    const env = { ...t.env, DPC_DB__CLIENT: 'sqlite', DPC_DB__SQLITE__PATH: '/proc/dpc-test/dpc.sqlite' };
    expectRefused(await runCli(['serve'], env, 20_000), 'database: cannot write the SQLite database at /proc/dpc-test/dpc.sqlite: ENOENT');
  });

  test('when its port is in use, and logs why before stopping what it started', async () => {
    const taken: Server = createServer();
    await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
    const port = (taken.address() as { port: number }).port;
    try {
      const result = await runCli(['serve'], { ...t.env, DPC_HTTP__PORT: String(port) });
      expectRefused(result, new RegExp(`^dpc: config: cannot listen on http.host 127\\.0\\.0\\.1, http.port ${port}: .*EADDRINUSE`));
      const log = readLog(join(t.env.DPC_LOG__DIR, 'dpc.log')).map((l) => l.message);
      const cause = log.indexOf(result.stderr.trim().slice('dpc: '.length));
      expect(cause).toBeGreaterThan(-1);
      expect(log.indexOf('stopping ems')).toBeGreaterThan(cause);
    } finally {
      taken.close();
    }
  });

  test('when its log directory cannot be made', async () => {
    const file = join(t.dir, 'not-a-log-dir');
    writeFileSync(file, '');
    const result = await runCli(['serve'], { ...t.env, DPC_LOG__DIR: join(file, 'log') });
    expectRefused(result, `config: log.dir: cannot write ${join(file, 'log')}: ENOTDIR`);
  });

  test('when the file store cannot be made', async () => {
    const file = join(t.dir, 'not-a-dir');
    writeFileSync(file, '');
    const result = await runCli(['serve'], { ...t.env, DPC_DSS__ROOT: join(file, 'dss') });
    expectRefused(result, new RegExp(`${join(file, 'dss')}`));
  });
});

/** A workflow module as `rms.descriptors` names one: its source, or the workflows it exports beside one task type. */
const noop = `{ name: 't.noop', kind: 'program', command: ['/bin/true'] }`;
const workflowModule = (steps: string, extra = '') => `export const taskTypes = [${noop}];
export const workflows = [{ name: 'wf', output: 'TestSolution', ${extra} steps: [${steps}] }];
`;

describe('dpc serve refuses a bad workflow module with exit code 2 and one line naming the workflow and step', () => {
  test.each([
    ['a cycle', workflowModule(`{ name: 'a', tasktype: 't.noop', after: ['b'] }, { name: 'b', tasktype: 't.noop', after: ['a'] }`), /^dpc: workflow "wf": its steps form a cycle: (a → b → a|b → a → b)$/],
    ['an unknown task type', workflowModule(`{ name: 'calibrate', tasktype: 'no.such.task' }`), 'workflow "wf", step "calibrate": unknown task type "no.such.task"'],
    ['a bad cron expression', workflowModule(`{ name: 'a', tasktype: 't.noop' }`, `triggers: [{ kind: 'cron', schedule: '61 * * * *' }],`), /^dpc: workflow "wf": trigger 1: bad cron expression "61 \* \* \* \*"/],
    ['a bad priority', workflowModule(`{ name: 'a', tasktype: 't.noop', priority: 1001 }`), 'workflow "wf", step "a": priority must be a whole number from -1000 to 1000; got 1001'],
    ['a module without workflows and task types', 'export const workflows = {};\n', /^dpc: rms\.descriptors: \S+bad\.ts: must export `workflows` and `taskTypes` as lists$/],
  ])('with %s', async (_what, source, cause) => {
    const module = join(t.dir, 'bad.ts');
    writeFileSync(module, source);
    const config = join(t.dir, 'workflows.json');
    writeFileSync(config, JSON.stringify({ rms: { descriptors: [module] } }));
    expectRefused(await runCli(['--config', config, 'serve'], t.env), cause);
  });
});

describe('dpc config show', () => {
  test('prints the effective configuration as JSON with every secret masked', async () => {
    const secretFile = join(t.dir, 'oracle-password');
    writeFileSync(secretFile, 'scott-tiger-42\n');
    const result = await runCli(['config', 'show'], {
      ...t.env,
      DPC_DB__POSTGRESQL__PASSWORD: 'hunter2-very-secret',
      DPC_DB__ORACLE__PASSWORDFILE: secretFile,
      DPC_HTTP__PORT: '8181',
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const shown = JSON.parse(result.stdout) as { http: { port: number }; db: { postgresql: { password: string }; oracle: { password: string; passwordFile: string } } };
    expect(shown.http.port).toBe(8181);
    expect(shown.db.postgresql.password).toBe('****');
    expect(shown.db.oracle.password).toBe('****');
    expect(shown.db.oracle.passwordFile).toBe(secretFile);
    expect(result.stdout).not.toContain('hunter2');
    expect(result.stdout).not.toContain('scott-tiger');
  });
});

describe('dpc migrate and dpc status', () => {
  test('status refuses a database that was never migrated, and says what to do', async () => {
    expectRefused(await runCli(['status'], t.env), /has no DPC schema yet: run `dpc migrate` or start the server$/);
  });

  test('migrate applies the migrations once, then says the database is up to date', async () => {
    const first = await runCli(['migrate'], t.env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(`applied: ${compileMigrations(testDialect).map((m) => m.name).join(', ')}\n`);
    const again = await runCli(['migrate'], t.env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`^${testDialect === 'sqlite' ? 'SQLite' : 'PostgreSQL'} .* is up to date\\n$`));
  });

  test('status says no process is running when none is', async () => {
    expect((await runCli(['migrate'], t.env)).code).toBe(0);
    const result = await runCli(['status'], t.env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')[1]).toBe('no DPC process is running');
  });

  test('status lists the seven subsystems of a running server as UP, and none once it stopped', async () => {
    const served = await serveDpc(t.env);
    const result = await runCli(['status'], t.env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const rows = result.stdout
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .map((line) => line.split(/\s+/));
    expect(rows.map((r) => r[1]).sort()).toEqual(SUBSYSTEM_NAMES.map((n) => n.toUpperCase()).sort());
    expect(rows.every((r) => r[2] === 'UP')).toBe(true);
    expect(new Set(rows.map((r) => r[0])).size).toBe(1);
    expect(rows[0][0]).toMatch(new RegExp(`:${served.child.pid}:`));

    expect(await served.stop()).toEqual({ code: 0, signal: null });
    expect((await runCli(['status'], t.env)).stdout.split('\n')[1]).toBe('no DPC process is running');
  });
});
