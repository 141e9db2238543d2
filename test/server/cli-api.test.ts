import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { apiTokenFor } from '../helpers/auth.js';
import { testEnv, type TestEnv } from '../helpers/env.js';
import { killChildren, runCli, serveDpc, type Served } from '../helpers/server.js';

let t: TestEnv;
let served: Served;
beforeAll(async () => {
  t = await testEnv();
  served = await serveDpc(t.env);
});
afterAll(async () => {
  await killChildren();
  await t.cleanup();
});

describe('the dpc operator commands', () => {
  test('call the API with the token in DPC_TOKEN, audited as its user', async () => {
    const token = await apiTokenFor(t.env, 'operator');
    const drained = await runCli(['--url', served.url, 'pool', 'drain', 'local', '-r', 'disk maintenance'], { ...t.env, DPC_TOKEN: token });
    expect(drained.code, drained.stderr).toBe(0);
    expect(JSON.parse(drained.stdout).pools).toEqual([expect.objectContaining({ name: 'local', state: 'DRAINED', reason: 'disk maintenance' })]);
    const me = (await (await fetch(`${served.url}api/smas/me`, { headers: { authorization: `Bearer ${token}` } })).json()) as { username: string };
    const audit = (await (await fetch(`${served.url}api/smas/audit?action=pool.drain`, { headers: { authorization: `Bearer ${token}` } })).json()) as { entries: { username: string; reason: string }[] };
    expect(audit.entries).toEqual([expect.objectContaining({ username: me.username, reason: 'disk maintenance' })]);
  });

  test('without a token, or with a scientist’s, say so in one line', async () => {
    const none = await runCli(['--url', served.url, 'pool', 'list'], t.env);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('dpc: sign in first: this needs a signed-in user or an API token (Authorization: Bearer)\n');
    const scientist = await apiTokenFor(t.env, 'scientist');
    expect((await runCli(['--url', served.url, 'pool', 'list'], { ...t.env, DPC_TOKEN: scientist })).code).toBe(0);
    const refused = await runCli(['--url', served.url, 'pool', 'open', 'local', '-r', 'x'], { ...t.env, DPC_TOKEN: scientist });
    expect(refused.stderr).toMatch(/^dpc: scientist-\w+ \(scientist\) may not POST \/api\/pfs\/pools\/local\/open: it needs the role operator\n$/);
  });
});
