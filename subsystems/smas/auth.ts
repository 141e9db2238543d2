import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { Logger } from 'winston';
import { hasRole, type Role, type SignedIn } from '../../core/actor.js';
import type { Config } from '../../config/schema.js';
import { DpcError } from '../../core/errors.js';
import { sameSecret, type Accounts, type Credential } from './accounts.js';
import { smasErrors } from './errors.js';

/** The cookie that carries a console session's token. */
export const SESSION_COOKIE = 'dpc_session';
/** The form field, and the header for a script that uses a session, that carry the CSRF token. */
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The role a request needs: user administration is for admins; any other state-changing
 * request for operators, except a user's own sign-out and API tokens; reading for anyone
 * signed in. A route added later falls under these rules without saying anything.
 */
export function requiredRole(method: string, path: string): Role {
  if (/^\/(api\/)?smas\/users(\/|$)/.test(path)) return 'admin';
  if (!STATE_CHANGING.has(method)) return 'scientist';
  if (/^\/(api\/)?smas\/(signout|account|tokens)(\/|$)/.test(path)) return 'scientist';
  return 'operator';
}

/**
 * Where to go after signing in: only a path of this console (`/rms/workflows?x=1`), never
 * another site (`//evil.example`, `/\evil.example`, `https://…`): anything else is dropped.
 */
export function safeNext(value: unknown): string | undefined {
  if (typeof value !== 'string' || !/^\/(?![/\\])/.test(value) || /[\u0000-\u001f\\]/.test(value) || value.length > 2000) return undefined;
  const url = new URL(value, 'http://dpc.invalid');
  return url.origin === 'http://dpc.invalid' ? url.pathname + url.search : undefined;
}

export interface SmasHttp {
  /** Refuses a state-changing request whose Origin (or, without one, Referer) is another site's. */
  sameOrigin: RequestHandler;
  /** Finds who a request is (session cookie, or Authorization: Bearer API token): res.locals.user, .csrf. */
  identify: RequestHandler;
  /** The sign-in page and its form (GET and POST /signin), the one page open to everyone; mount at /smas. */
  signIn: Router;
  /**
   * Everything after it needs a signed-in user with the role the request needs, and a
   * state-changing request made with the session cookie needs the session's CSRF token.
   * Without a user, a page redirects to the sign-in page (with ?next=) and the API answers 401.
   */
  guard: RequestHandler;
  /** For an endpoint read by a machine (Prometheus' /metrics): an API token of a user with `role`, nothing else. */
  bearerOnly(role: Role): RequestHandler;
  /** Ends the request's session (or all of its user's) and its cookie. */
  signOut(req: Request, res: Response, everywhere: boolean): Promise<void>;
}

interface Locals {
  user?: SignedIn;
  credential?: Credential;
  csrf?: string;
  /** Why a credential the request carried was refused. */
  refused?: string;
}

export function createAuth(accounts: Accounts, config: Config, log: Logger): SmasHttp {
  const base = config.http.basePath;
  const cookiePath = base || '/';
  const { session, signin } = config.smas;
  const minutes = (ms: number) => Math.max(1, Math.round(ms / 60_000));
  const locals = (res: Response) => res.locals as Locals;
  const endedMessage = `your session has ended (signed out, ${minutes(session.idleMs)} min without a request, or ${minutes(session.absoluteMs)} min after signing in): sign in again`;
  const isApi = (req: Request) => req.path.startsWith('/api/') || !req.accepts('html');

  function bearer(req: Request): string | undefined {
    const header = req.get('authorization');
    if (!header) return undefined;
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    return m ? m[1] : '';
  }

  const identify: RequestHandler = async (req, res, next) => {
    const l = locals(res);
    const token = bearer(req);
    let credential: Credential | undefined;
    if (token !== undefined) {
      credential = token ? await accounts.token(token) : undefined;
      if (!credential) l.refused = 'the API token is not valid (unknown, revoked or expired, or its user is disabled)';
    } else {
      const cookie = (req.cookies as Record<string, string> | undefined)?.[SESSION_COOKIE];
      if (cookie) {
        credential = await accounts.session(cookie);
        if (!credential) {
          l.refused = endedMessage;
          res.clearCookie(SESSION_COOKIE, { path: cookiePath });
        }
      }
    }
    if (credential) {
      l.user = credential.user;
      l.credential = credential;
      l.csrf = credential.csrf;
    }
    next();
  };

  const sameOrigin: RequestHandler = (req, _res, next) => {
    if (!STATE_CHANGING.has(req.method)) return next();
    let origin = req.get('origin');
    if (origin === undefined) {
      const referer = req.get('referer');
      if (referer !== undefined) origin = URL.canParse(referer) ? new URL(referer).origin : 'null';
    }
    // Neither header (a script): the CSRF token or the API token decides.
    if (origin === undefined) return next();
    if (origin !== `${req.protocol}://${req.host}`) {
      log.warn(`refused ${req.method} ${req.originalUrl} from origin ${origin}`, { address: req.ip });
      return next(smasErrors.foreignOrigin(origin));
    }
    next();
  };

  function render(res: Response, status: number, view: { next?: string; username?: string; message?: string }): void {
    res.status(status).render('smas/signin', { title: 'Sign in', next: view.next ?? '', username: view.username ?? '', message: view.message });
  }

  // Per address and per user name, in this process: what the account's own count of wrong
  // passwords (in the database, shared by every process) does not cover, guessing many names.
  const limited = (what: string) => (req: Request, res: Response) => {
    log.warn(`sign-in attempts limited ${what}`, { address: req.ip });
    const b = (req.body ?? {}) as Record<string, unknown>;
    render(res, 429, { next: safeNext(b.next), username: String(b.username ?? ''), message: smasErrors.tooManyAttempts(what, minutes(signin.windowMs)).message });
  };
  const perAddress = rateLimit({ windowMs: signin.windowMs, limit: signin.perAddress, validate: false, skipSuccessfulRequests: true, handler: limited('from this address'), standardHeaders: 'draft-8', legacyHeaders: false });
  const perAccount = rateLimit({
    windowMs: signin.windowMs,
    limit: signin.perAccount,
    validate: false,
    skipSuccessfulRequests: true,
    keyGenerator: (req) => `user:${String((req.body as Record<string, unknown> | undefined)?.username ?? '').toLowerCase()}`,
    handler: limited('for this user name'),
    standardHeaders: 'draft-8',
    legacyHeaders: false,
  });

  const signIn = Router();
  signIn.get('/signin', (req, res) => {
    const next = safeNext(req.query.next);
    if (locals(res).user) return res.redirect(303, base + (next ?? '/'));
    render(res, 200, { next, message: req.query.ended === '1' ? endedMessage : undefined });
  });
  signIn.post('/signin', perAddress, perAccount, async (req, res, next) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const username = typeof b.username === 'string' ? b.username.trim().toLowerCase() : '';
    const target = safeNext(b.next);
    try {
      const opened = await accounts.signIn(username, typeof b.password === 'string' ? b.password : '', req.ip);
      // The session the client came with, if any, ends: the new one has a new token.
      const old = locals(res).credential;
      if (old?.session) await accounts.signOut(old, req.ip, false);
      res.cookie(SESSION_COOKIE, opened.token, { httpOnly: true, sameSite: 'lax', secure: req.secure, path: cookiePath, maxAge: session.absoluteMs });
      log.info(`${opened.credential.user.username} signed in`, { address: req.ip });
      res.redirect(303, base + (target ?? '/'));
    } catch (err) {
      if (!(err instanceof DpcError) || ![smasErrors.badCredentials.code, smasErrors.locked.code, smasErrors.disabled.code].includes(err.code)) return next(err);
      if (smasErrors.locked.is(err)) log.warn(err.message, { address: req.ip });
      render(res, err.status, { next: target, username, message: err.message });
    }
  });

  const guard: RequestHandler = (req, res, next: NextFunction) => {
    const l = locals(res);
    const user = l.user;
    if (!user) {
      if (isApi(req)) throw smasErrors.signInRequired(l.refused ?? 'this needs a signed-in user or an API token (Authorization: Bearer)');
      const back = req.method === 'GET' ? safeNext(req.url) : undefined;
      const query = new URLSearchParams();
      if (back && back !== '/') query.set('next', back);
      if (l.refused) query.set('ended', '1');
      return res.redirect(303, `${base}/smas/signin${query.size ? `?${query}` : ''}`);
    }
    const needed = requiredRole(req.method, req.path);
    if (!hasRole(user.role, needed)) throw smasErrors.forbidden(user.username, user.role, needed, `${req.method} ${req.path}`);
    if (STATE_CHANGING.has(req.method) && user.via === 'session') {
      const sent = (req.body as Record<string, unknown> | undefined)?.[CSRF_FIELD] ?? req.get(CSRF_HEADER);
      if (typeof sent !== 'string' || !l.csrf || !sameSecret(sent, l.csrf)) throw smasErrors.csrf();
    }
    next();
  };

  function bearerOnly(role: Role): RequestHandler {
    return async (req, res, next) => {
      const token = bearer(req);
      const credential = token ? await accounts.token(token) : undefined;
      if (!credential) throw smasErrors.signInRequired('this needs an API token (Authorization: Bearer)');
      if (!hasRole(credential.user.role, role)) throw smasErrors.forbidden(credential.user.username, credential.user.role, role, `${req.method} ${req.path}`);
      locals(res).user = credential.user;
      next();
    };
  }

  async function signOut(req: Request, res: Response, everywhere: boolean): Promise<void> {
    const credential = locals(res).credential;
    if (!credential) return;
    await accounts.signOut(credential, req.ip, everywhere);
    res.clearCookie(SESSION_COOKIE, { path: cookiePath });
  }

  return { sameOrigin, identify, signIn, guard, bearerOnly, signOut };
}
