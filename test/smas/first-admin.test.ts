import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { signIn } from '../helpers/auth.js';
import { testEnv, type TestEnv } from '../helpers/env.js';
import { killChildren, serveDpc } from '../helpers/server.js';

let t: TestEnv;
beforeEach(async () => {
  t = await testEnv({ DPC_LOG__CONSOLE: 'true' });
});
afterEach(async () => {
  await killChildren();
  await t.cleanup();
});

describe('the first admin', () => {
  test('a first start creates admin with a random password in a file only the server’s user reads; the log names the file, never the password', async () => {
    const served = await serveDpc(t.env);
    const file = join(t.dir, 'first-admin-password');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const password = readFileSync(file, 'utf8').trim();
    expect(password).toMatch(/^[\w-]{24}$/);
    const said = served.logLines().find((l) => l.message.startsWith('first start: created the user admin'));
    expect(said?.message).toContain(`its password is in ${file}`);
    expect(served.stdout()).toContain(file);
    const everything = JSON.stringify(served.logLines()) + served.stdout() + served.stderr() + readFileSync(join(t.dir, 'log', 'dpc.log'), 'utf8');
    expect(everything).not.toContain(password);

    const session = await signIn(served.url.replace(/\/$/, ''), 'admin', password);
    const users = await fetch(`${served.url}api/smas/users`, { headers: session.headers() });
    expect(((await users.json()) as { users: { username: string; role: string }[] }).users).toEqual([expect.objectContaining({ username: 'admin', role: 'admin' })]);
    await served.stop();

    const again = await serveDpc(t.env);
    expect(readFileSync(file, 'utf8').trim(), 'a later start leaves it alone').toBe(password);
    expect(again.logLines().some((l) => l.message.startsWith('first start'))).toBe(false);
  });

  test('smas.firstAdminFile puts it elsewhere', async () => {
    const file = join(t.dir, 'secrets', 'admin.txt');
    await serveDpc({ ...t.env, DPC_SMAS__FIRSTADMINFILE: file });
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});
