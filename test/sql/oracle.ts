/**
 * What Oracle rejects and the other two dialects accept, as text checks: Oracle cannot run
 * here, so the generated DDL and the compiled queries are read instead (the shared notes on
 * npm and Knex list these pitfalls). Each checker returns the problems it found, so that
 * a test can show them all at once and a test of the checker can feed it known-bad SQL.
 */

/** V$RESERVED_WORDS where RESERVED = 'Y': not usable as an unquoted name. */
export const ORACLE_RESERVED = new Set([
  'ACCESS', 'ADD', 'ALL', 'ALTER', 'AND', 'ANY', 'AS', 'ASC', 'AUDIT', 'BETWEEN', 'BY', 'CHAR', 'CHECK',
  'CLUSTER', 'COLUMN', 'COMMENT', 'COMPRESS', 'CONNECT', 'CREATE', 'CURRENT', 'DATE', 'DECIMAL', 'DEFAULT',
  'DELETE', 'DESC', 'DISTINCT', 'DROP', 'ELSE', 'EXCLUSIVE', 'EXISTS', 'FILE', 'FLOAT', 'FOR', 'FROM', 'GRANT',
  'GROUP', 'HAVING', 'IDENTIFIED', 'IMMEDIATE', 'IN', 'INCREMENT', 'INDEX', 'INITIAL', 'INSERT', 'INTEGER',
  'INTERSECT', 'INTO', 'IS', 'LEVEL', 'LIKE', 'LOCK', 'LONG', 'MAXEXTENTS', 'MINUS', 'MLSLABEL', 'MODE',
  'MODIFY', 'NOAUDIT', 'NOCOMPRESS', 'NOT', 'NOWAIT', 'NULL', 'NUMBER', 'OF', 'OFFLINE', 'ON', 'ONLINE',
  'OPTION', 'OR', 'ORDER', 'PCTFREE', 'PRIOR', 'PRIVILEGES', 'PUBLIC', 'RAW', 'RENAME', 'RESOURCE', 'REVOKE',
  'ROW', 'ROWID', 'ROWNUM', 'ROWS', 'SELECT', 'SESSION', 'SET', 'SHARE', 'SIZE', 'SMALLINT', 'START',
  'SUCCESSFUL', 'SYNONYM', 'SYSDATE', 'TABLE', 'THEN', 'TO', 'TRIGGER', 'UID', 'UNION', 'UNIQUE', 'UPDATE',
  'USER', 'VALIDATE', 'VALUES', 'VARCHAR', 'VARCHAR2', 'VIEW', 'WHENEVER', 'WHERE', 'WITH',
]);

/** Oracle's limit before 12.2; the schema keeps to it so that it installs on every release. */
export const ORACLE_MAX_IDENTIFIER = 30;

const LITERAL = /'(?:[^']|'')*'/g;
const QUOTED = /"([^"]*)"/g;

/** Every name the DDL gives: the quoted ones and the unquoted `constraint <name>`. */
export function ddlIdentifiers(ddl: string): string[] {
  const text = ddl.replace(/^--.*$/gm, '').replace(LITERAL, "''");
  const quoted = [...text.matchAll(QUOTED)].map((m) => m[1]);
  const constraints = [...text.matchAll(/\bconstraint\s+([A-Za-z_][\w$#]*)/gi)].map((m) => m[1]);
  return [...quoted, ...constraints];
}

/** The identifiers that are too long for Oracle or are reserved words, each with why. */
export function identifierProblems(names: Iterable<string>): string[] {
  const problems = new Set<string>();
  for (const n of names) {
    if (n.length > ORACLE_MAX_IDENTIFIER) problems.add(`${n}: ${n.length} characters, Oracle allows ${ORACLE_MAX_IDENTIFIER}`);
    if (ORACLE_RESERVED.has(n.toUpperCase())) problems.add(`${n}: an Oracle reserved word`);
  }
  return [...problems];
}

export interface CreateTable {
  table: string;
  columns: { name: string; type: string; notNull: boolean }[];
  /** The text after the closing parenthesis: partitioning, storage. */
  tail: string;
  sql: string;
}

/** The `create table` statements of a DDL text, with their columns. */
export function createTables(ddl: string): CreateTable[] {
  const tables: CreateTable[] = [];
  for (const statement of statements(ddl)) {
    const head = /^create\s+table\s+["`]?(\w+)["`]?\s*\(/i.exec(statement);
    if (!head) continue;
    const open = head[0].length - 1;
    const close = matchingParen(statement, open);
    const columns = splitTopLevel(statement.slice(open + 1, close))
      .map((item) => item.trim())
      .filter((item) => !/^(constraint|primary|foreign|unique|check)\b/i.test(item))
      .map((item) => {
        const m = /^["`]?(\w+)["`]?\s+(.*)$/s.exec(item);
        if (!m) throw new Error(`cannot read the column definition ${item} in ${statement}`);
        return { name: m[1], type: m[2], notNull: /\bnot null\b/i.test(m[2]) };
      });
    tables.push({ table: head[1], columns, tail: statement.slice(close + 1), sql: statement });
  }
  // Columns a later migration added: `add column "x" …` (SQLite, PostgreSQL) or `add ("X" …, "Y" …)` (Oracle).
  for (const statement of statements(ddl)) {
    const head = /^alter\s+table\s+["`]?(\w+)["`]?\s+add\b(.*)$/is.exec(statement);
    const table = head && tables.find((t) => t.table === head[1]);
    if (!head || !table || /^\s*constraint\b/i.test(head[2])) continue;
    const body = head[2].trim();
    const items = body.startsWith('(') ? splitTopLevel(body.slice(1, matchingParen(body, 0))) : splitTopLevel(body.replace(/,\s*add\s+column\s+/gi, ', '));
    for (const raw of items) {
      const m = /^(?:column\s+)?["`]?(\w+)["`]?\s+(.*)$/is.exec(raw.trim());
      if (!m) throw new Error(`cannot read the added column ${raw} in ${statement}`);
      table.columns.push({ name: m[1], type: m[2], notNull: /\bnot null\b/i.test(m[2]) });
    }
  }
  // Tables and columns a later migration renamed: `alter table "x" rename to "y"`, `… rename column "a" to "b"`.
  for (const statement of statements(ddl)) {
    const renamed = /^alter\s+table\s+["`]?(\w+)["`]?\s+rename\s+(?:column\s+["`]?(\w+)["`]?\s+)?to\s+["`]?(\w+)["`]?$/i.exec(statement);
    const table = renamed && tables.find((t) => t.table === renamed[1]);
    if (!renamed || !table) continue;
    if (renamed[2] === undefined) table.table = renamed[3];
    else for (const c of table.columns) if (c.name === renamed[2]) c.name = renamed[3];
  }
  return tables;
}

/** The statements of a generated schema.sql: one per line ending in `;`, comments left out. */
export function statements(ddl: string): string[] {
  return ddl
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('--'))
    .map((line) => line.replace(/;\s*$/, ''));
}

/**
 * The problems of one compiled query on Oracle. `sql` is Knex's `toSQL().sql` for the
 * oracledb client, `bindings` its bindings.
 */
export function oracleQueryProblems(sql: string, bindings: readonly unknown[] = []): string[] {
  const problems: string[] = [];
  const literals = [...sql.matchAll(LITERAL)].map((m) => m[0]);
  if (literals.includes("''")) problems.push("the literal '' is NULL on Oracle");
  bindings.forEach((b, i) => {
    if (b === '') problems.push(`binding ${i + 1} is '', which Oracle stores as NULL`);
    if (typeof b === 'boolean') problems.push(`binding ${i + 1} is a boolean: flags are 0 or 1 (PostgreSQL rejects a boolean for a smallint)`);
  });

  // Literals and quoted names cannot hold keywords: the checks below read what is left.
  const text = sql.replace(LITERAL, "'s'").replace(QUOTED, '"i"').replace(/\s+/g, ' ').toLowerCase();
  const flat = topLevel(text);

  if (hasRowValueComparison(text)) {
    problems.push('a row-value comparison such as (a, b) > (?, ?) (ORA-01796): write a > ? or (a = ? and b > ?)');
  }
  if (/\blimit\b/.test(text)) problems.push('LIMIT does not exist on Oracle');
  if (/\boffset\b/.test(text) || /\brownum_ >/.test(text)) {
    problems.push('paging by OFFSET: page by key (ARCHITECTURE §6), and Oracle has no OFFSET before 12c');
  }
  const forUpdate = [...text.matchAll(/\bfor update\b/g)];
  if (forUpdate.length > 0) {
    if (/\bfetch (first|next)\b/.test(text)) {
      problems.push('FOR UPDATE with FETCH FIRST (ORA-02014): lock the rows of a bounded subquery of candidate ids');
    }
    // Knex writes .forUpdate().limit(n) for Oracle as a ROWNUM view around the locking select.
    if (forUpdate.some((m) => depthAt(text, m.index) > 0)) problems.push('FOR UPDATE inside a subquery, as knex writes it with a limit (ORA-00907)');
  }
  if (/\bon conflict\b/.test(text) || /\bon duplicate key\b/.test(text) || /^insert or (ignore|replace)\b/.test(flat)) {
    problems.push('an upsert clause Oracle lacks: update, then insert when no row was updated (or MERGE)');
  }
  if (/^update\b.*\bfrom\b/.test(flat)) problems.push('UPDATE … FROM does not exist on Oracle: use a correlated subquery or MERGE');
  if (/^delete\b.*\busing\b/.test(flat)) problems.push('DELETE … USING does not exist on Oracle: use a correlated subquery');
  if (/\b(true|false)\b/.test(text)) problems.push('a TRUE/FALSE literal: Oracle before 23ai has no boolean in SQL; flags are 0 or 1');
  const returning = (text.match(/\breturning\b/g) ?? []).length;
  const returningInto = (text.match(/\breturning (("i"|\w+)(, ?("i"|\w+))*) into\b/g) ?? []).length;
  if (returning > returningInto) problems.push('RETURNING without INTO: Oracle returns values only through out-binds');
  if (/\b(from|join) ("i"|\w+) as\b/.test(text)) problems.push('AS before a table alias (ORA-00933)');
  if (/\bilike\b/.test(text) || text.includes('::')) problems.push('PostgreSQL-only syntax (ILIKE or a :: cast)');
  return problems;
}

const COMPARISON = '(<=|>=|<>|!=|=|<|>)';

/** A parenthesised list (not a function's arguments) compared with another parenthesis. */
function hasRowValueComparison(text: string): boolean {
  for (let i = text.indexOf('('); i >= 0; i = text.indexOf('(', i + 1)) {
    if (i > 0 && /[\w"$#]/.test(text[i - 1])) continue;
    const close = matchingParen(text, i);
    if (splitTopLevel(text.slice(i + 1, close)).length < 2) continue;
    if (new RegExp(`^\\s*${COMPARISON}\\s*\\(`).test(text.slice(close + 1))) return true;
    if (new RegExp(`\\)\\s*${COMPARISON}\\s*$`).test(text.slice(0, i))) return true;
  }
  return false;
}

/** The text with every parenthesised part emptied: what remains is the statement's top level. */
function topLevel(text: string): string {
  let out = text;
  for (let prev = ''; prev !== out; ) {
    prev = out;
    out = out.replace(/\([^()]*\)/g, '()');
  }
  return out.trim();
}

function depthAt(text: string, index: number): number {
  let depth = 0;
  for (let i = 0; i < index; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
  }
  return depth;
}

function matchingParen(text: string, open: number): number {
  let depth = 0;
  let inLiteral = false;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === "'") inLiteral = !inLiteral;
    if (inLiteral) continue;
    if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  throw new Error(`unbalanced parentheses in ${text}`);
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let inLiteral = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'") inLiteral = !inLiteral;
    if (inLiteral) continue;
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}
