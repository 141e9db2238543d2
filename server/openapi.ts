import { z } from 'zod';
import type { Operation, RouteEntry } from '../core/api.js';
import { requiredRole, CSRF_HEADER, SESSION_COOKIE } from '../subsystems/smas/index.js';

/** A JSON Schema of the document (draft 2020-12, OpenAPI 3.1's dialect), without its own `$schema`. */
function schemaOf(schema: z.ZodType): Record<string, unknown> {
  // Request bodies are described as what a client sends: the input side of any transform.
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const ERROR = { $ref: '#/components/responses/Error' };

function parameters(path: string, op: Operation): unknown[] {
  const inPath = [...path.matchAll(/:(\w+)/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    description: op.params?.[name] ?? name,
    schema: { type: 'string' },
  }));
  const query = op.query ? schemaOf(op.query) : undefined;
  const required = new Set((query?.required as string[] | undefined) ?? []);
  const inQuery = Object.entries((query?.properties ?? {}) as Record<string, Record<string, unknown>>).map(([name, { description, ...schema }]) => ({
    name,
    in: 'query',
    required: required.has(name),
    ...(description ? { description } : {}),
    schema,
  }));
  return [...inPath, ...inQuery];
}

function operationObject(method: string, path: string, op: Operation): Record<string, unknown> {
  const [, , subsystem] = path.split('/');
  const json = (op.produces ?? 'application/json') === 'application/json';
  const role = requiredRole(method, path);
  return {
    operationId: `${method.toLowerCase()}${path
      .split('/')
      .slice(2)
      .map((part) => part.replace(/^:/, 'by-'))
      .join('-')
      .replace(/[-.](\w)/g, (_m, c: string) => c.toUpperCase())
      .replace(/^\w/, (c) => c.toUpperCase())}`,
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    tags: [subsystem],
    'x-dpc-role': role,
    parameters: parameters(path, op),
    ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(op.body) } } } } : {}),
    responses: {
      [String(op.status ?? 200)]: {
        description: op.returns ?? 'done',
        content: { [op.produces ?? 'application/json']: { schema: json ? { type: 'object' } : { type: 'string' } } },
      },
      '400': ERROR,
      '401': ERROR,
      '403': ERROR,
      '404': ERROR,
      '503': ERROR,
    },
    security: STATE_CHANGING.has(method) ? [{ session: [], csrf: [] }, { token: [] }] : [{ session: [] }, { token: [] }],
  };
}

/**
 * The OpenAPI 3.1 document of every /api route declared with core/api.ts's `route()`, from
 * the app's routes as express matches them (`routesOf`): paths, methods, parameters, the
 * request bodies' JSON Schemas made from the zod schemas that check them, answers, the role
 * and the credentials each needs.
 */
export function openApiDocument(routes: RouteEntry[], o: { version: string; basePath: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    if (!r.path.startsWith('/api/') || !r.operation) continue;
    const item = (paths[r.path.replace(/:(\w+)/g, '{$1}')] ??= {});
    // Express takes the first route that matches: a later twin never answers.
    item[r.method.toLowerCase()] ??= operationObject(r.method, r.path, r.operation);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'DPC REST API',
      version: o.version,
      description: 'Everything the console does, as JSON. Sign in with a session (the console\'s cookie, and its CSRF token on every state-changing request) or an API token (Authorization: Bearer). Errors are {"error":{"code","message"}}.',
    },
    servers: [{ url: o.basePath || '/' }],
    paths,
    components: {
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: 'the console\'s session, from signing in at /smas/signin' },
        csrf: { type: 'apiKey', in: 'header', name: CSRF_HEADER, description: 'the session\'s CSRF token, on every state-changing request made with the session cookie' },
        token: { type: 'http', scheme: 'bearer', description: 'an API token (dpc_…) from My account or `dpc user token`; no CSRF token needed' },
      },
      responses: {
        Error: {
          description: 'refused or failed: a declared error with its code',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['error'],
                properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
              },
            },
          },
        },
      },
    },
  };
}
