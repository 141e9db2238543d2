import type { Request, RequestHandler, Response, Router } from 'express';
import { z } from 'zod';
import { coreErrors } from './errors.js';
import { describeIssue } from './issues.js';

/**
 * The REST API's routes, each declared once with what it takes: `route()` registers the
 * express handler behind a check of the body against its zod schema, and keeps the
 * declaration on the route, where the OpenAPI document (server/openapi.ts) reads it by
 * walking the router. A route added with a bare `router.get` is missing from the document,
 * and test/server/openapi.test.ts says which.
 */

export type Method = 'get' | 'post';

export interface Operation<B extends z.ZodType = z.ZodType> {
  /** One line, as the console names the action. */
  summary: string;
  description?: string;
  /** The JSON body, checked before the handler runs; the handler sees what it parsed to. */
  body?: B;
  /** The query-string parameters (documented; the handler reads them through core/params.ts). */
  query?: z.ZodObject;
  /** What each path parameter (`:id`) is; a parameter not named here is described by its name. */
  params?: Record<string, string>;
  /** The status of a success: 200 unless told (201 for what creates). */
  status?: number;
  /** What a success answers, in words. */
  returns?: string;
  /** The media type of a success: JSON unless told (a log is text, a graph may be SVG). */
  produces?: string;
}

/** The `reason` of an audited action: why, recorded with who did it (core/actor.ts reads it). */
export const Reason = z.string().max(1000).optional().describe('why: recorded in the audit with who did it, when and from where');

/** The body of an action that takes nothing but its reason. */
export const ReasonBody = z.object({ reason: Reason });

/** A field's own message for when it is not there at all (`z.string({ error: missing('name … is missing') })`); other faults are worded by describeIssue. */
export const missing = (message: string) => (iss: { input: unknown }) => (iss.input === undefined ? message : undefined);

/** A query-string parameter: text as the query string gives it, described for the document. */
export const param = (description: string) => z.string().optional().describe(description);

const OPERATION = Symbol('dpc.operation');
/** The message a schema left to the default: replaced by describeIssue's, which names the field and what it got. */
const DEFAULT_MESSAGE = '\u0000default';


/** The check of a request's body against `operation.body`, carrying the declaration for the document. */
function validator(operation: Operation): RequestHandler {
  const check: RequestHandler = (req, _res, next) => {
    if (operation.body) {
      // Express 5 leaves the body undefined when no parser took it (no content type): an empty one.
      const given: unknown = req.body ?? {};
      const parsed = operation.body.safeParse(given, { error: () => DEFAULT_MESSAGE });
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw coreErrors.badRequest(issue.message === DEFAULT_MESSAGE ? describeIssue(issue, given) : issue.message);
      }
      req.body = parsed.data;
    }
    next();
  };
  return Object.assign(check, { [OPERATION]: operation });
}

/** Declares one route of the API on `router`: its handler behind the body's check, and its operation for the document. */
/** The path parameters of an express pattern (`/jobs/:id/log` has `id`), each as text. */
type PathParams<P extends string> = P extends `${string}:${infer Name}/${infer Rest}` ? { [K in Name]: string } & PathParams<`/${Rest}`> : P extends `${string}:${infer Name}` ? { [K in Name]: string } : Record<never, string>;

export function route<P extends string, B extends z.ZodType = z.ZodUnknown>(
  router: Router,
  method: Method,
  path: P,
  operation: Operation<B>,
  handler: (req: Request<PathParams<P>, unknown, z.output<B>>, res: Response) => unknown,
): void {
  router[method](path, validator(operation), handler as unknown as RequestHandler);
}

export interface RouteEntry {
  method: string;
  /** The express pattern, mount paths included (`/api/rms/workflows/:id`). */
  path: string;
  /** Its declaration, when it was declared with route(). */
  operation?: Operation;
}

interface Layer {
  route?: { path: string; methods: Record<string, boolean>; stack: Layer[] };
  rawPath?: string | RegExp;
  handle: { stack?: Layer[] } & { [OPERATION]?: Operation };
}

/** Every route of an express router and of the routers mounted in it, in the order they match. */
export function routesOf(router: { stack: Layer[] } | Router): RouteEntry[] {
  const walk = (stack: Layer[], prefix: string): RouteEntry[] =>
    stack.flatMap((layer) => {
      const r = layer.route;
      if (r) {
        const operation = r.stack.map((l) => l.handle[OPERATION]).find(Boolean);
        return Object.keys(r.methods)
          .filter((m) => m !== '_all')
          .map((m) => ({ method: m.toUpperCase(), path: prefix + (r.path === '/' && prefix ? '' : r.path), operation }));
      }
      if (!layer.handle.stack) return [];
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      return walk(layer.handle.stack, prefix + mount);
    });
  return walk((router as { stack: Layer[] }).stack, '');
}
