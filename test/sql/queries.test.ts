import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { offlineKnex, type Db, type Dialect } from '../../core/db.js';
import { defineQuery, DIALECTS, type Query } from '../../core/query.js';
import { projectRoot } from '../../server/paths.js';
import { compileMigrations } from '../../sql/migrate.js';
import { testDb, testDialect, type TestEnv } from '../helpers/env.js';
import { createTables, oracleQueryProblems } from './oracle.js';

interface Declared {
  /** The module, relative to the project root: subsystems/<name>/sql/<file>.ts. */
  file: string;
  subsystem: string;
  exportName: string;
  query: Query<unknown>;
}

/** Every `subsystems/<name>/sql/*.ts` module: where each query the server issues is declared. */
function queryModules(): { file: string; subsystem: string }[] {
  const root = join(projectRoot, 'subsystems');
  return readdirSync(root)
    .filter((subsystem) => {
      try {
        return statSync(join(root, subsystem, 'sql')).isDirectory();
      } catch {
        return false;
      }
    })
    .flatMap((subsystem) =>
      readdirSync(join(root, subsystem, 'sql'))
        .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
        .map((f) => ({ file: ['subsystems', subsystem, 'sql', f].join('/'), subsystem })),
    )
    .sort((a, b) => a.file.localeCompare(b.file));
}

function isQuery(value: unknown): value is Query<unknown> {
  return typeof value === 'function' && typeof (value as { queryName?: unknown }).queryName === 'string' && 'example' in value;
}

const modules = queryModules();
const declared: Declared[] = [];
for (const m of modules) {
  const exports = (await import(pathToFileURL(join(projectRoot, m.file)).href)) as Record<string, unknown>;
  for (const [exportName, value] of Object.entries(exports)) {
    if (isQuery(value)) declared.push({ ...m, exportName, query: value });
  }
}

interface Compiled {
  sql: string;
  bindings: readonly unknown[];
}

/** A query compiled with its example: one statement, or several for some builders. */
function compile(query: Query<unknown>, dialect: Dialect): Compiled[] {
  const built = query(offlineKnex(dialect), query.example);
  const sql = built.toSQL() as Knex.Sql | Knex.Sql[];
  return (Array.isArray(sql) ? sql : [sql]).map((s) => ({ sql: s.sql, bindings: s.bindings ?? [] }));
}

const oracleTables = new Set(createTables(compileMigrations('oracle').flatMap((m) => m.statements).join(';\n')).map((t) => t.table));

/** The quoted tables a compiled Oracle statement reads or writes. */
function tablesOf(sql: string): string[] {
  return [...sql.matchAll(/\b(?:from|join|into|update)\s+"(\w+)"/gi)].map((m) => m[1]);
}

const label = (d: Declared) => `${d.query.queryName} (${d.file})`;

describe('the declared queries', () => {
  test('are found: the discovery looks where the queries are', () => {
    expect(modules.map((m) => m.file)).toContain('subsystems/ems/sql/missionLog.ts');
    expect(declared.map((d) => d.query.queryName)).toContain('ems.insertLogEntry');
  });

  test.each(modules.map((m) => m.file))('%s declares at least one query', (file) => {
    expect(declared.filter((d) => d.file === file).map((d) => d.exportName).length, `${file} exports no defineQuery`).toBeGreaterThan(0);
  });

  test('written for some dialects only refuse the others, saying which', () => {
    const some = defineQuery('test.some', { id: 1 }, (knex, p) => knex('rms_job').select('id').where('id', p.id), ['sqlite', 'postgresql']);
    expect(() => some(offlineKnex('oracle'), some.example)).toThrow(/test\.some is not written for oracle/);
    expect(some(offlineKnex('postgresql'), some.example).toSQL().sql).toMatch(/select/);
  });

  test('have unique names, each prefixed with its subsystem', () => {
    const names = declared.map((d) => d.query.queryName);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    expect(declared.filter((d) => !d.query.queryName.startsWith(`${d.subsystem}.`)).map(label)).toEqual([]);
  });

  describe.each(DIALECTS)('on %s', (dialect) => {
    test.each(declared.filter((d) => d.query.dialects.includes(dialect)).map((d) => [label(d), d] as const))('%s compiles with its example', (_, d) => {
      const compiled = compile(d.query, dialect);
      expect(compiled.length).toBeGreaterThan(0);
      for (const c of compiled) expect(c.sql).toMatch(/\S/);
    });
  });

  test.each(declared.filter((d) => d.query.dialects.includes('oracle')).map((d) => [label(d), d] as const))('%s reads as Oracle accepts it', (_, d) => {
    for (const c of compile(d.query, 'oracle')) {
      expect(oracleQueryProblems(c.sql, c.bindings), c.sql).toEqual([]);
      expect(tablesOf(c.sql).filter((t) => !oracleTables.has(t)), `${c.sql} names a table the schema lacks`).toEqual([]);
    }
  });
});

describe('the Oracle query check', () => {
  const knex = offlineKnex('oracle');
  const problems = (q: Knex.QueryBuilder | Knex.Raw) => {
    const { sql, bindings } = q.toSQL() as Knex.Sql;
    return oracleQueryProblems(sql, bindings);
  };

  test.each([
    ['a row-value comparison', 'select * from t where (a, b) > (?, ?)', /row-value/],
    ['a row-value comparison on the right', 'select * from t where (?, ?) <= ("A", "B")', /row-value/],
    ['LIMIT', 'select "ID" from "T" order by "ID" limit ?', /LIMIT/],
    ['OFFSET … FETCH', 'select "ID" from "T" order by "ID" offset ? rows fetch next ? rows only', /OFFSET/],
    ['FOR UPDATE with FETCH FIRST', 'select "ID" from "T" fetch first 10 rows only for update skip locked', /ORA-02014/],
    ['ON CONFLICT', 'insert into "T" ("ID") values (?) on conflict ("ID") do nothing', /upsert/],
    ['INSERT OR IGNORE', 'insert or ignore into "T" ("ID") values (?)', /upsert/],
    ['UPDATE … FROM', 'update "T" set "A" = "U"."A" from "U" where "U"."ID" = "T"."ID"', /UPDATE … FROM/],
    ['DELETE … USING', 'delete from "T" using "U" where "U"."ID" = "T"."ID"', /DELETE … USING/],
    ['a TRUE literal', 'select "ID" from "T" where "ENABLED" = true', /TRUE\/FALSE/],
    ['an empty string literal', `update "T" set "NOTE" = '' where "ID" = ?`, /literal ''/],
    ['RETURNING without INTO', 'insert into "T" ("A") values (?) returning "ID"', /RETURNING/],
    ['AS before a table alias', 'select "S"."ID" from "T" as "S"', /ORA-00933/],
    ['a :: cast', 'select "ID"::text from "T"', /PostgreSQL-only/],
  ])('catches %s', (_, sql, expected) => {
    const found = oracleQueryProblems(sql);
    expect(found.some((p) => expected.test(p)), found.join('; ')).toBe(true);
  });

  test('catches an empty string or a boolean bound as a value', () => {
    expect(oracleQueryProblems('update "T" set "NOTE" = ? where "ID" = ?', ['', 1])).toEqual([expect.stringMatching(/binding 1 is ''/)]);
    expect(oracleQueryProblems('update "T" set "ENABLED" = ?', [true])).toEqual([expect.stringMatching(/boolean/)]);
  });

  test("catches knex's OFFSET paging and a limited FOR UPDATE, which knex writes with ROWNUM", () => {
    expect(problems(knex('rms_job').select('id').orderBy('id').offset(100).limit(10))).toEqual([expect.stringMatching(/OFFSET/)]);
    expect(problems(knex('rms_job').select('id').where('status', 'READY').forUpdate().limit(10))).toEqual([expect.stringMatching(/ORA-00907/)]);
  });

  test('accepts what knex writes for Oracle: keyset paging, ROWNUM limits, RETURNING … INTO, IN lists', () => {
    const keyset = knex('rms_job')
      .select('id')
      .where((w) => w.where('created', '>', 1).orWhere((o) => o.where('created', 1).andWhere('id', '>', 2)))
      .orderBy(['created', 'id'])
      .limit(50);
    expect(problems(keyset)).toEqual([]);
    expect(problems(knex('ems_outbox').insert({ topic: 't', payload: '{}' }).returning('id'))).toEqual([]);
    expect(problems(knex('ems_outbox').whereIn(['id', 'state'], [[1, 'PENDING']]).select('id'))).toEqual([]);
    expect(problems(knex('rms_job').select(knex.raw('coalesce(??, ?) as x', ['endtime', 0])).where(knex.raw('coalesce(??, ?) > (select 1 from dual)', ['endtime', 0])))).toEqual([]);
    expect(oracleQueryProblems(`select "ID" from "T" where "NOTE" = 'it''s' and "A" = 'limit, offset, true'`)).toEqual([]);
    expect(oracleQueryProblems('select "LIMIT", "OFFSET", "TRUE" from "T"')).toEqual([]);
    expect(oracleQueryProblems('select "ID" from "T" where "STATUS" = ? and rownum <= ? for update skip locked')).toEqual([]);
  });
});

describe(`the declared queries on the live ${testDialect} database`, () => {
  let t: TestEnv & { db: Db };
  beforeAll(async () => {
    t = await testDb();
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  /**
   * An example may name rows that do not exist (a foreign key, a unique name): that is the
   * example's data, not the query's SQL, so integrity errors are let pass; a syntax error,
   * an unknown table or column is not. Nothing an example writes is kept.
   */
  async function runExample<P>(db: Db, query: Query<P>): Promise<void> {
    const rollback = new Error('rollback');
    const outcome = await db.knex
      .transaction(async (trx) => {
        await query(trx, query.example);
        throw rollback;
      })
      .catch((err: unknown) => err);
    if (outcome !== rollback && !isIntegrityError(outcome)) throw outcome;
  }

  function isIntegrityError(err: unknown): boolean {
    const code = String((err as { code?: unknown }).code ?? '');
    return code.startsWith('23') || code.startsWith('SQLITE_CONSTRAINT');
  }

  test.each(declared.filter((d) => d.query.dialects.includes(testDialect)).map((d) => [label(d), d] as const))('%s runs with its example', async (_, d) => {
    await runExample(t.db, d.query);
  });

  test('the run fails a query naming an unknown column, passes a foreign-key violation, and keeps nothing', async () => {
    const unknownColumn = defineQuery('test.unknownColumn', { id: 1 }, (knex, p) => knex('rms_job').select('no_such_column').where('id', p.id));
    await expect(runExample(t.db, unknownColumn)).rejects.toThrow(/no_such_column/);
    const dangling = defineQuery('test.dangling', { accountid: 424242 }, (knex, p) =>
      knex('smas_session').insert({ id: 'b'.repeat(64), accountid: p.accountid, created: 1, expires: 2, last_seen: 1 }),
    );
    await runExample(t.db, dangling);
    const lease = defineQuery('test.lease', { name: 'test-lease' }, (knex, p) => knex('smas_lease').insert({ name: p.name, expires: 2, acquired: 1 }));
    await runExample(t.db, lease);
    expect(await t.db.knex('smas_lease').where('name', 'test-lease')).toEqual([]);
  });
});

describe('SQL outside the sql/ folders', () => {
  const SCANNED = ['server', 'subsystems', 'core'];
  /** Whole files that build or hold the Knex instance, or run the declared queries. */
  const ALLOWED_FILES = new Set(['core/query.ts', 'core/db.ts']);
  /** The connection ping, the one statement with no table: in these files only. */
  const PING = /\braw\(\s*pingSql\(/;
  const PING_FILES = new Set(['server/db.ts', 'subsystems/smas/index.ts']);
  const ISSUES_SQL = [/(?<![\w$])knex\s*\(/, /\.knex\s*\(/, /\bknex\.raw\s*\(/, /\.raw\s*\(/, /(?<![\w$.])trx\s*\(/, /\bknex\.schema\b/];

  function sourceFiles(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const path = join(dir, e.name);
      if (e.isDirectory()) return e.name === 'sql' || e.name === 'node_modules' ? [] : sourceFiles(path);
      return /\.(ts|js|mjs|cjs)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path] : [];
    });
  }

  /** Lines that issue SQL, as `file:line: text`, comments left out. */
  function violations(file: string, source: string): string[] {
    if (ALLOWED_FILES.has(file)) return [];
    const code = source.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '));
    return code.split('\n').flatMap((line, i) => {
      const text = line.replace(/(^|\s)\/\/.*$/, '');
      if (!ISSUES_SQL.some((p) => p.test(text))) return [];
      if (PING_FILES.has(file) && PING.test(text) && !ISSUES_SQL.some((p) => p.test(text.replace(PING, '')))) return [];
      return [`${file}:${i + 1}: ${line.trim()}`];
    });
  }

  test('no file under server/, subsystems/ or core/ issues SQL but through a declared query', () => {
    const files = SCANNED.flatMap((d) => sourceFiles(join(projectRoot, d)));
    expect(files.length).toBeGreaterThan(10);
    const found = files.flatMap((f) => violations(relative(projectRoot, f).split(sep).join('/'), readFileSync(f, 'utf8')));
    expect(found, 'declare the query with defineQuery in subsystems/<name>/sql/').toEqual([]);
  });

  test('the scan catches a query builder, a raw statement and a transaction used as a builder', () => {
    const source = [
      "const rows = await db.knex('rms_job').select('id');",
      "await this.db.knex.raw('delete from rms_job');",
      "await trx('ems_outbox').insert(row);",
      'await knex.schema.dropTable(name);',
      '// db.knex(\'rms_job\') in a comment is not SQL',
      'await db.knex.transaction(async (trx) => insertEvent(trx, e));',
      'const query = offlineKnex(dialect);',
    ].join('\n');
    expect(violations('subsystems/rms/jobs.ts', source)).toEqual([
      "subsystems/rms/jobs.ts:1: const rows = await db.knex('rms_job').select('id');",
      "subsystems/rms/jobs.ts:2: await this.db.knex.raw('delete from rms_job');",
      "subsystems/rms/jobs.ts:3: await trx('ems_outbox').insert(row);",
      'subsystems/rms/jobs.ts:4: await knex.schema.dropTable(name);',
    ]);
  });

  test('the ping is allowed only where it is declared an exception', () => {
    const ping = 'await db.knex.raw(pingSql(db.dialect));';
    expect(violations('subsystems/smas/index.ts', ping)).toEqual([]);
    expect(violations('server/db.ts', 'await knex.raw(pingSql(client));')).toEqual([]);
    expect(violations('subsystems/dss/index.ts', ping)).toHaveLength(1);
    expect(violations('subsystems/smas/index.ts', "await db.knex.raw(pingSql(d)); await db.knex('x');")).toHaveLength(1);
  });
});
