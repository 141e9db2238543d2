import type { Browser, BrowserContext, ConsoleMessage, Locator, Page, Response } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { Role } from '../../core/actor.js';
import { addUser } from './auth.js';
import { launchChromium, screenshotPath } from './browser.js';
import { startConsole, type ConsoleUnderTest } from './console.js';

type StorageState = Awaited<ReturnType<BrowserContext['storageState']>>;
type User = { username: string; password: string; role: Role };

/** Wide enough for the widest table (the Logs' ten columns) without wrapping its headers. */
const VIEWPORT = { width: 1400, height: 900 };

/** A page of one browser context (its own cookies) on the console under test, watched for problems. */
export interface ConsolePage {
  page: Page;
  context: BrowserContext;
  /** The user it signed in as, when it did. */
  user?: User;
  /** Goes to a path of the console (`/pfs/nodes`) and answers the document's HTTP status, after redirects. */
  open(path: string): Promise<number>;
  /** Clicks what navigates (a link, a form's button) and answers the status of the document it lands on, after redirects. */
  submit(target: Locator): Promise<number>;
  /** The cell texts of the body rows of the table with this id, as on the screen. */
  rows(tableId: string): Promise<string[][]>;
  /** Types the user name and password into the sign-in form and submits it; answers the status of the page it lands on. */
  signIn(username: string, password: string): Promise<number>;
  /** A full-page screenshot under test-results/screenshots/<name>.png; answers its path. */
  screenshot(name: string): Promise<string>;
}

export interface BrowserConsole {
  /** The console under test: its harness (`c.h`: RMS, PFS, EMS, the database), base URL, an operator's `fetch`. */
  c: ConsoleUnderTest;
  browser: Browser;
  /**
   * A context of its own on Welcome, signed in as a user of `role`: the first time, a new user
   * through the sign-in page; after that, the same session (its cookie), so that a test costs
   * no password hashing. A test that ends its session signs in a user of its own (addUser, signedOut, signIn).
   */
  signedIn(role: Role): Promise<ConsolePage>;
  /** A context with no session, on the sign-in page. */
  signedOut(): Promise<ConsolePage>;
  /** A new user of `role` with a password, in the console's database. */
  addUser(role: Role): Promise<{ username: string; password: string }>;
  /** The problems the pages of this test had so far, which are then no longer the test's failure: for a test of the watching itself. */
  takeProblems(): string[];
}

/**
 * The console (the RMS harness's test workflows, see startConsole) and a real Chromium for the
 * tests of the enclosing describe: started before them, stopped after. After each test its
 * contexts are closed and the test fails if a page of it broke the Content-Security-Policy,
 * threw, logged an error, or could not load a resource. A document's own 4xx (a 403 page, a
 * refused sign-in) is not a problem: the test asserts on that status itself.
 */
export function useBrowserConsole(options: Parameters<typeof startConsole>[0] = {}): BrowserConsole {
  let c: ConsoleUnderTest | undefined;
  let browser: Browser | undefined;
  let contexts: BrowserContext[] = [];
  let problems: string[] = [];
  /** The session of each role signed in so far, as its cookie: what signedIn gives the next test of that role. */
  const sessions = new Map<Role, { state: StorageState; user: User }>();

  beforeAll(async () => {
    c = await startConsole(options);
    browser = await launchChromium();
  });
  afterEach(async () => {
    await Promise.all(contexts.map((ctx) => ctx.close()));
    contexts = [];
    const seen = problems;
    problems = [];
    expect(seen, 'problems in the browser').toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await c?.close();
  });

  function started(): { c: ConsoleUnderTest; browser: Browser } {
    if (!c || !browser) throw new Error('the browser console has not started (use it in a test of the describe that called useBrowserConsole)');
    return { c, browser };
  }

  async function open(storageState?: StorageState): Promise<ConsolePage> {
    const { c, browser } = started();
    const context = await browser.newContext({ baseURL: c.base, viewport: VIEWPORT, storageState });
    contexts.push(context);
    const page = await context.newPage();
    const documents = new Set<string>();
    let status = 0;
    page.on('response', (res: Response) => {
      if (res.request().resourceType() === 'document') {
        documents.add(res.url());
        if (res.request().frame() === page.mainFrame()) status = res.status();
      } else if (res.status() >= 400) problems.push(`${res.status()} for ${res.request().resourceType()} ${res.url()}`);
    });
    page.on('pageerror', (err) => problems.push(`uncaught on ${page.url()}: ${err.message}`));
    page.on('console', (msg: ConsoleMessage) => {
      if (msg.type() !== 'error') return;
      // Chromium logs a document's 4xx as a failed load: that status is the test's to check.
      if (msg.text().startsWith('Failed to load resource') && documents.has(msg.location().url)) return;
      problems.push(`console error on ${page.url()}: ${msg.text()}${msg.location().url ? ` (${msg.location().url})` : ''}`);
    });

    const submit = async (target: Locator) => {
      await Promise.all([page.waitForEvent('load'), target.click()]);
      return status;
    };
    const p: ConsolePage = {
      page,
      context,
      async open(path) {
        const res = await page.goto(path);
        if (!res) throw new Error(`no response for ${path}`);
        return res.status();
      },
      submit,
      rows: (id) => page.locator(`table#${id} > tbody > tr`).evaluateAll((trs) => trs.map((tr) => [...(tr as HTMLTableRowElement).cells].map((td) => (td.textContent ?? '').trim()))),
      async signIn(username, password) {
        await page.getByLabel('User name').fill(username);
        await page.getByLabel('Password').fill(password);
        return submit(page.getByRole('button', { name: 'Sign in' }));
      },
      async screenshot(name) {
        const path = screenshotPath(name);
        await page.screenshot({ path, fullPage: true });
        return path;
      },
    };
    return p;
  }

  async function signedOut(): Promise<ConsolePage> {
    const p = await open();
    await p.open('/smas/signin');
    return p;
  }

  const addUserOf = (role: Role) => addUser(started().c.h.dpc.db, started().c.h.dpc.config, role);

  return {
    get c() {
      return started().c;
    },
    get browser() {
      return started().browser;
    },
    signedOut,
    addUser: addUserOf,
    takeProblems() {
      const seen = problems;
      problems = [];
      return seen;
    },
    async signedIn(role) {
      const known = sessions.get(role);
      if (known) {
        const p = await open(known.state);
        const status = await p.open('/');
        if (status !== 200 || new URL(p.page.url()).pathname !== '/') throw new Error(`the session of ${known.user.username} has ended: ${status} at ${p.page.url()}`);
        p.user = known.user;
        return p;
      }
      const p = await signedOut();
      const user = { ...(await addUserOf(role)), role };
      const status = await p.signIn(user.username, user.password);
      if (status !== 200 || new URL(p.page.url()).pathname !== '/') throw new Error(`${user.username} did not sign in: ${status} at ${p.page.url()}`);
      p.user = user;
      sessions.set(role, { state: await p.context.storageState(), user });
      return p;
    },
  };
}
