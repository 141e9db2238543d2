import { resolve } from 'node:path';
import { Router } from 'express';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { route, routesOf } from '../../core/api.js';
import { createApp } from '../../server/http.js';
import { openApiDocument } from '../../server/openapi.js';
import { projectRoot } from '../../server/paths.js';
import { startApp, type App } from '../helpers/app.js';
import { apiToken, withToken } from '../helpers/auth.js';

interface OperationObject {
  operationId: string;
  summary: string;
  parameters: { name: string; in: string; required: boolean }[];
  requestBody?: { content: { 'application/json': { schema: { type: string; properties: Record<string, unknown> } } } };
  responses: Record<string, { $ref?: string; description?: string }>;
  security: Record<string, string[]>[];
}
interface Document {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, OperationObject>>;
  components: { securitySchemes: Record<string, unknown>; responses: Record<string, unknown> };
}

let app: App;
let api: typeof fetch;
let doc: Document;
beforeAll(async () => {
  app = await startApp({}, { descriptors: [resolve(projectRoot, 'test/fixtures/rms-workflows.ts')] });
  api = withToken(await apiToken(app.dpc.db, app.t.config));
  const res = await api(`${app.base}/api/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as Document;
});
afterAll(async () => {
  await app?.close();
});

const operations = () => Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));
const post = (path: string, body: unknown) => api(`${app.base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('the OpenAPI document at /api/openapi.json', () => {
  test('is OpenAPI 3.1: each operation has a unique id, a summary, its path parameters, answers and credentials that the document defines', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info).toEqual(expect.objectContaining({ title: expect.any(String), version: expect.any(String) }));
    const ids = new Set<string>();
    for (const { path, method, op } of operations()) {
      const where = `${method} ${path}`;
      expect(['get', 'post', 'put', 'patch', 'delete'], where).toContain(method);
      expect(path, where).toMatch(/^\/api\//);
      expect(ids.has(op.operationId), `${where}: operationId ${op.operationId} twice`).toBe(false);
      ids.add(op.operationId);
      expect(op.summary, where).not.toBe('');
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect(op.parameters.filter((p) => p.in === 'path').map((p) => p.name).sort(), where).toEqual(templated);
      expect(Object.keys(op.responses).some((s) => /^2\d\d$/.test(s)), where).toBe(true);
      for (const r of Object.values(op.responses)) if (r.$ref) expect(doc.components.responses[r.$ref.replace('#/components/responses/', '')], where).toBeDefined();
      expect(op.security.length, where).toBeGreaterThan(0);
      for (const scheme of op.security.flatMap(Object.keys)) expect(doc.components.securitySchemes[scheme], where).toBeDefined();
      if (op.requestBody) expect(op.requestBody.content['application/json'].schema.type, where).toBe('object');
    }
  });

  test('lists every /api route of the router, with the method it answers', () => {
    const listed = new Set(operations().map(({ path, method }) => `${method.toUpperCase()} ${path}`));
    const routes = routesOf(createApp(app.dpc).router).filter((r) => r.path.startsWith('/api/'));
    expect(routes.length).toBeGreaterThan(40);
    const missing = routes.map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`).filter((r) => !listed.has(r));
    expect(missing).toEqual([]);
  });

  test('leaves out a route added without route(), which the walk above then reports', () => {
    const api = Router();
    route(api, 'get', '/declared', { summary: 'declared' }, (_req, res) => void res.json({}));
    api.get('/forgotten', (_req, res) => void res.json({}));
    const root = Router();
    root.use('/api/x', api);
    const paths = openApiDocument(routesOf(root), { version: '0', basePath: '' }).paths as Record<string, unknown>;
    expect(Object.keys(paths)).toEqual(['/api/x/declared']);
  });

  test("describes a request body with the schema that checks it: starting a workflow takes name, params, priority and reason", () => {
    const body = doc.paths['/api/rms/workflows'].post.requestBody!.content['application/json'].schema;
    expect(Object.keys(body.properties).sort()).toEqual(['name', 'params', 'priority', 'reason']);
    expect(body).toEqual(expect.objectContaining({ required: ['name'] }));
  });
});

describe('a request body is checked against its schema', () => {
  test('a field of the wrong type is refused with 400 naming the field, and no workflow is started', async () => {
    const res = await post('/api/rms/workflows', { name: 'simple', priority: 'high', reason: 'schema test' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { code: 'DPC_BAD_REQUEST', message: 'priority must be a number; got "high"' } });
    const { workflows } = (await (await api(`${app.base}/api/rms/workflows?name=simple`)).json()) as { workflows: unknown[] };
    expect(workflows).toEqual([]);
  });

  test('a missing field gets the message the route always gave', async () => {
    const res = await post('/api/rms/backfill', { from: '2026-01-01', to: '2026-01-02', reason: 'schema test' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { code: 'DPC_BAD_REQUEST', message: 'name (the workflow to backfill) is missing' } });
  });

  test('a reason of more than 1000 characters is refused, and the pool is not drained', async () => {
    const res = await post('/api/pfs/pools/local/drain', { reason: 'x'.repeat(1001) });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { code: 'DPC_BAD_REQUEST', message: 'reason must have at most 1000 characters; got 1001' } });
    const { pools } = (await (await api(`${app.base}/api/pfs/pools`)).json()) as { pools: { name: string; state: string }[] };
    expect(pools.filter((p) => p.state === 'DRAINED')).toEqual([]);
  });
});
