import { Router } from 'express';
import { coreErrors } from '../../core/errors.js';
import { limitParam, queryString, textParam, wholeParam } from '../../core/params.js';
import type { Tracking } from './tracking.js';

const PAGE = 50;

function idParam(value: unknown, what: string): number {
  const id = wholeParam(value, what, 1);
  if (id === undefined) throw coreErrors.badRequest(`${what} is missing`);
  return id;
}

/** The query of the solutions list, the same for the page and its twin: a page by key, a data-model type. */
function solutionsQuery(query: Record<string, unknown>) {
  return { before: wholeParam(query.before, 'before', 1), dmtype: textParam(query.dmtype, 'dmtype', 64) };
}

/**
 * Configuration Tracking's JSON: `GET /solutions` (newest first, by key, `dmtype`),
 * `/solutions/:id/metadata` (its Solution Id Metadata, both ways; `/solutions/:id` has its
 * provenance), `/configs`, `/configs/:id` (dotted keys), `/configs/diff?a=&b=`.
 */
export function trackingApi(tracking: Tracking): Router {
  const api = Router();
  api.get('/solutions', async (req, res) => {
    res.json({ solutions: await tracking.solutions({ ...solutionsQuery(req.query), limit: limitParam(req.query.limit) }) });
  });
  api.get('/solutions/:id/metadata', async (req, res) => {
    res.json(await tracking.solution(idParam(req.params.id, 'solution id')));
  });
  api.get('/configs', async (req, res) => {
    res.json({ configs: await tracking.configs({ before: wholeParam(req.query.before, 'before', 1), limit: limitParam(req.query.limit) }) });
  });
  api.get('/configs/diff', async (req, res) => {
    res.json(await tracking.diff(idParam(req.query.a, 'a'), idParam(req.query.b, 'b')));
  });
  api.get('/configs/:id', async (req, res) => {
    res.json(await tracking.config(idParam(req.params.id, 'configuration id')));
  });
  return api;
}

/** The Configuration Tracking pages: solutions, one solution with its metadata, configuration instances, one, and a diff of two. */
export function trackingPages(tracking: Tracking): Router {
  const pages = Router();
  const section = { path: '/rms/solutions' };
  pages.get('/solutions', async (req, res) => {
    // The DPCT's "Solution Id" box: straight to that solution.
    const wanted = wholeParam(req.query.id, 'id', 1);
    if (wanted !== undefined) return void res.redirect(303, (res.locals.url as (path: string) => string)(`/rms/solutions/${wanted}`));
    const q = solutionsQuery(req.query);
    const solutions = await tracking.solutions({ ...q, limit: PAGE });
    const next = solutions.length === PAGE ? `/rms/solutions${queryString({ dmtype: q.dmtype, before: solutions[solutions.length - 1].id })}` : undefined;
    res.render('rms/solutions', { title: 'Configuration Tracking', solutions, dmtype: q.dmtype ?? '', next });
  });
  pages.get('/solutions/:id', async (req, res) => {
    const id = idParam(req.params.id, 'solution id');
    res.render('rms/solution', { title: `Solution ${id}`, ...section, ...(await tracking.solution(id)) });
  });
  pages.get('/configs', async (req, res) => {
    const configs = await tracking.configs({ before: wholeParam(req.query.before, 'before', 1), limit: PAGE });
    const next = configs.length === PAGE ? `/rms/configs${queryString({ before: configs[configs.length - 1].id })}` : undefined;
    res.render('rms/configs', { title: 'Configuration instances', ...section, configs, next });
  });
  pages.get('/configs/diff', async (req, res) => {
    const [a, b] = [idParam(req.query.a, 'a'), idParam(req.query.b, 'b')];
    res.render('rms/config-diff', { title: `Configuration ${a} → ${b}`, ...section, diff: await tracking.diff(a, b) });
  });
  pages.get('/configs/:id', async (req, res) => {
    const config = await tracking.config(idParam(req.params.id, 'configuration id'));
    res.render('rms/config', { title: `Configuration instance ${config.id}`, ...section, config });
  });
  return pages;
}
