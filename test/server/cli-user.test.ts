import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openDb } from '../../server/db.js';
import { openAccounts } from '../../subsystems/smas/index.js';
import { testEnv, type TestEnv } from '../helpers/env.js';
import { runCli, spawnCli } from '../helpers/server.js';

let t: TestEnv;
beforeAll(async () => {
  t = await testEnv();
  expect((await runCli(['migrate'], t.env)).code).toBe(0);
});
afterAll(async () => {
  await t.cleanup();
});

/** Runs `dpc user …` with `input` on its standard input. */
async function withInput(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(args, t.env, { stdin: true });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdin?.end(input);
  const code = await new Promise<number | null>((done) => child.once('close', (c) => done(c)));
  return { code, stdout, stderr };
}

async function verify(username: string, password: string): Promise<boolean> {
  const db = await openDb(t.config);
  try {
    await openAccounts(db, t.config).signIn(username, password, undefined);
    return true;
  } catch {
    return false;
  } finally {
    await db.knex.destroy();
  }
}

describe('dpc user', () => {
  test('add prints a random password once; the user signs in with it', async () => {
    const added = await runCli(['user', 'add', 'erin', '--role', 'operator', '--name', 'Erin Example'], t.env);
    expect(added.code, added.stderr).toBe(0);
    const password = /^added erin \(operator\); password: (\S+)$/.exec(added.stdout.trim())?.[1];
    expect(password).toMatch(/^[\w-]{24}$/);
    expect(await verify('erin', password!)).toBe(true);
    const again = await runCli(['user', 'add', 'erin', '--role', 'operator'], t.env);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('dpc: the user erin exists already\n');
  });

  test('add refuses an unknown role and a short password, naming what is wrong', async () => {
    const role = await runCli(['user', 'add', 'frank', '--role', 'root'], t.env);
    expect(role.stderr).toBe('dpc: role must be one of scientist, operator, admin; got "root"\n');
    const short = await withInput(['user', 'add', 'frank', '--role', 'scientist', '--password-stdin'], 'short\n');
    expect(short.stderr).toBe('dpc: a password needs at least 12 characters\n');
  });

  test('reset-password takes one from standard input; disable and enable; list shows each state', async () => {
    expect((await withInput(['user', 'add', 'gina', '--role', 'scientist', '--password-stdin'], 'gina first password\n')).code).toBe(0);
    const reset = await withInput(['user', 'reset-password', 'gina', '--password-stdin'], 'gina second password\n');
    expect(reset.stdout).toBe('password of gina changed\n');
    expect(await verify('gina', 'gina first password')).toBe(false);
    expect(await verify('gina', 'gina second password')).toBe(true);
    expect((await runCli(['user', 'disable', 'gina'], t.env)).stdout).toBe('gina disabled\n');
    expect(await verify('gina', 'gina second password')).toBe(false);
    const list = await runCli(['user', 'list'], t.env);
    expect(list.stdout).toMatch(/^gina\s+scientist\s+disabled\s+last sign-in \d{4}-/m);
    expect((await runCli(['user', 'enable', 'gina'], t.env)).code).toBe(0);
    expect(await verify('gina', 'gina second password')).toBe(true);
    expect((await runCli(['user', 'disable', 'nobody'], t.env)).stderr).toBe('dpc: there is no user nobody\n');
  });

  test('token prints a new API token once; each change is audited as the system user who ran it', async () => {
    const res = await runCli(['user', 'token', 'erin', '--label', 'cron job'], t.env);
    expect(res.stdout).toMatch(/^API token \d+ of erin: dpc_[\w-]{43}\n$/);
    const db = await openDb(t.config);
    try {
      const rows = await db.knex('smas_audit').select('username', 'action').orderBy('id');
      expect(rows.map((r) => r.action)).toEqual(expect.arrayContaining(['user.add', 'user.password', 'user.disable', 'user.enable', 'token.add']));
      const changes = rows.filter((r) => /^(user|token)\./.test(r.action));
      expect(changes.every((r) => /^cli:\w+$/.test(r.username))).toBe(true);
    } finally {
      await db.knex.destroy();
    }
  });
});
