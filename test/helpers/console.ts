import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, listen } from '../../server/http.js';
import { startHarness, type Harness } from '../fixtures/rms-harness.js';
import { addUser, signIn, type Session } from './auth.js';

export interface Answer {
  status: number;
  type: string;
  headers: Headers;
  text: string;
  json(): any;
}

export interface ConsoleUnderTest {
  h: Harness;
  base: string;
  /** An operator's session, signed in through the sign-in form. */
  session: Session;
  /** GET as the signed-in operator. */
  get(path: string, headers?: Record<string, string>): Promise<Answer>;
  /** `fetch` with the operator's session cookie and CSRF token. */
  fetch: typeof fetch;
  close(): Promise<void>;
}

/** The test workflows' DPC of this process (the RMS harness) with its HTTP app listening on a free port, and an operator signed in. */
export async function startConsole(options: Parameters<typeof startHarness>[0] = {}): Promise<ConsoleUnderTest> {
  const h = await startHarness(options);
  const server: Server = await listen(createApp(h.dpc), '127.0.0.1', 0);
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const operator = await addUser(h.dpc.db, h.t.config, 'operator');
  const session = await signIn(base, operator.username, operator.password);
  const signedIn: typeof fetch = (input, init = {}) => {
    const headers = new Headers(init.headers);
    for (const [k, v] of Object.entries(session.headers())) if (!headers.has(k)) headers.set(k, v);
    return fetch(input, { ...init, headers });
  };
  return {
    h,
    base,
    session,
    fetch: signedIn,
    async get(path, headers = {}) {
      const res = await signedIn(base + path, { headers, redirect: 'manual' });
      const text = await res.text();
      return { status: res.status, type: res.headers.get('content-type') ?? '', headers: res.headers, text, json: () => JSON.parse(text) };
    },
    async close() {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
      await h.stop();
    },
  };
}

/** The text of the table with this id, rows as arrays of cell texts (tags stripped). */
export function tableRows(html: string, id: string): string[][] {
  const table = new RegExp(`<table[^>]*id="${id}"[^>]*>([\\s\\S]*?)</table>`).exec(html)?.[1] ?? '';
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(table)?.[1] ?? '';
  return [...body.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((r) => [...r[1].matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) => c[1].replace(/<[^>]+>/g, '').trim()));
}

/** The header cells of the table with this id. */
export function tableHeads(html: string, id: string): string[] {
  const table = new RegExp(`<table[^>]*id="${id}"[^>]*>([\\s\\S]*?)</table>`).exec(html)?.[1] ?? '';
  return [...table.matchAll(/<th[^>]*>([\s\S]*?)<\/th>/g)].map((c) => c[1].replace(/<[^>]+>/g, '').trim());
}
