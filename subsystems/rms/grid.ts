import type { Db } from '../../core/db.js';
import { numberOrNull } from '../../core/query.js';
import { rmsErrors } from './errors.js';
import { countsOfWorkflowSteps, stepsOfWorkflows } from './sql/grid.js';
import { countsOfWorkflow } from './sql/jobCounts.js';
import { selectStepDeps, selectSteps, type StepRow } from './sql/steps.js';
import { listWorkflows, selectWorkflow, type WorkflowRow } from './sql/workflows.js';
import { emptyCounts, type JobStatus } from './work.js';

/** One cell of the grid: a step of one workflow, its state and its jobs by state. */
export interface GridCell {
  stepid: number;
  status: string;
  counts: Record<JobStatus, number>;
}

export interface Grid {
  name: string;
  /** The columns: step names, in the order of the newest workflow's steps, then any only older ones had. */
  steps: string[];
  /** The rows, newest first. */
  workflows: { id: number; status: string; runid: string; created: number; starttime: number | null; endtime: number | null; cells: Record<string, GridCell> }[];
  /** `before` for the next (older) page; null at the end. */
  next: number | null;
}

export const GRID_MAX = 200;

/**
 * The grid of a workflow descriptor's last N workflows × their steps (Airflow's grid view),
 * every cell from the per-step counts: three indexed reads for any N and any number of jobs
 * (the workflows by rms_workflow_name_ix, their steps, their rms_job_count rows).
 */
export async function grid(db: Db, name: string, o: { n?: number; before?: number } = {}): Promise<Grid> {
  const n = Math.min(Math.max(o.n ?? 25, 1), GRID_MAX);
  const rows = (await listWorkflows(db.knex, { before: o.before ?? null, limit: n, name, status: null, created: null })) as WorkflowRow[];
  const ids = rows.map((w) => Number(w.id));
  const steps = ids.length === 0 ? [] : ((await stepsOfWorkflows(db.knex, { ids })) as { id: number; workflowid: number; name: string; status: string; position: number }[]);
  const counts = new Map<number, Record<JobStatus, number>>();
  for (const r of ids.length === 0 ? [] : ((await countsOfWorkflowSteps(db.knex, { ids })) as { stepid: number; status: JobStatus; jobs: number }[])) {
    const c = counts.get(Number(r.stepid)) ?? emptyCounts();
    c[r.status] = Number(r.jobs);
    counts.set(Number(r.stepid), c);
  }
  const columns: string[] = [];
  const byWorkflow = new Map<number, typeof steps>();
  for (const s of steps) byWorkflow.set(Number(s.workflowid), [...(byWorkflow.get(Number(s.workflowid)) ?? []), s]);
  for (const id of ids) {
    for (const s of (byWorkflow.get(id) ?? []).sort((a, b) => Number(a.position) - Number(b.position))) if (!columns.includes(s.name)) columns.push(s.name);
  }
  return {
    name,
    steps: columns,
    workflows: rows.map((w) => ({
      id: Number(w.id),
      status: w.status,
      runid: w.runid,
      created: Number(w.created),
      starttime: numberOrNull(w.starttime),
      endtime: numberOrNull(w.endtime),
      cells: Object.fromEntries((byWorkflow.get(Number(w.id)) ?? []).map((s) => [s.name, { stepid: Number(s.id), status: s.status, counts: counts.get(Number(s.id)) ?? emptyCounts() }])),
    })),
    next: rows.length === n ? ids[ids.length - 1] : null,
  };
}

export interface GraphNode {
  id: number;
  name: string;
  status: string;
  counts: Record<JobStatus, number>;
  layer: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Graph {
  workflowid: number;
  name: string;
  status: string;
  nodes: GraphNode[];
  /** From an upstream step to the step that runs after it, with the end points of the drawn edge. */
  edges: { from: number; to: number; x1: number; y1: number; x2: number; y2: number }[];
  width: number;
  height: number;
}

const BOX_W = 170;
const BOX_H = 46;
const GAP_X = 60;
const GAP_Y = 18;
const MARGIN = 10;

/**
 * A workflow's steps as a layered drawing, left to right: each step in the layer one past its
 * longest path from a step without upstream (so every edge points right), the steps of a layer
 * ordered by the mean place of their upstream steps (one barycentre pass, which untangles the
 * fan-out and fan-in of a pipeline), ties by their position in the descriptor. A workflow has
 * tens of steps, not thousands: this is the whole of what a layout library would do here.
 */
export function layout(steps: { id: number; position: number }[], deps: { stepid: number; upstreamid: number }[]): Map<number, { layer: number; row: number }> {
  const ups = new Map<number, number[]>(steps.map((s) => [s.id, []]));
  for (const d of deps) ups.get(d.stepid)?.push(d.upstreamid);
  const layer = new Map<number, number>();
  const depth = (id: number, seen: Set<number>): number => {
    const known = layer.get(id);
    if (known !== undefined) return known;
    if (seen.has(id)) throw new Error(`steps form a cycle through step ${id}`);
    seen.add(id);
    const l = Math.max(-1, ...(ups.get(id) ?? []).map((u) => depth(u, seen))) + 1;
    layer.set(id, l);
    return l;
  };
  for (const s of steps) depth(s.id, new Set());
  const layers: { id: number; position: number }[][] = [];
  for (const s of steps) (layers[layer.get(s.id)!] ??= []).push(s);
  const row = new Map<number, number>();
  for (const list of layers) {
    const weight = (s: { id: number; position: number }) => {
      const placed = (ups.get(s.id) ?? []).map((u) => row.get(u)!).filter((r) => r !== undefined);
      return placed.length === 0 ? s.position : placed.reduce((a, b) => a + b, 0) / placed.length;
    };
    list.sort((a, b) => weight(a) - weight(b) || a.position - b.position).forEach((s, i) => row.set(s.id, i));
  }
  return new Map(steps.map((s) => [s.id, { layer: layer.get(s.id)!, row: row.get(s.id)! }]));
}

/** One workflow's DAG with positions, its steps coloured by state on the page (renderGraphSvg). */
export async function workflowGraph(db: Db, workflowid: number): Promise<Graph> {
  const [wf] = (await selectWorkflow(db.knex, { id: workflowid })) as WorkflowRow[];
  if (!wf) throw rmsErrors.workflowNotFound(workflowid);
  const steps = ((await selectSteps(db.knex, { workflowid })) as StepRow[]).map((s) => ({ ...s, id: Number(s.id), position: Number(s.position) }));
  const deps = ((await selectStepDeps(db.knex, { workflowid })) as { stepid: number; upstreamid: number }[]).map((d) => ({ stepid: Number(d.stepid), upstreamid: Number(d.upstreamid) }));
  const counts = new Map<number, Record<JobStatus, number>>();
  for (const r of (await countsOfWorkflow(db.knex, { workflowid })) as { stepid: number; status: JobStatus; jobs: number }[]) {
    const c = counts.get(Number(r.stepid)) ?? emptyCounts();
    c[r.status] = Number(r.jobs);
    counts.set(Number(r.stepid), c);
  }
  const placed = layout(steps, deps);
  const nodes: GraphNode[] = steps.map((s) => {
    const { layer, row } = placed.get(s.id)!;
    return { id: s.id, name: s.name, status: s.status, counts: counts.get(s.id) ?? emptyCounts(), layer, x: MARGIN + layer * (BOX_W + GAP_X), y: MARGIN + row * (BOX_H + GAP_Y), width: BOX_W, height: BOX_H };
  });
  const at = new Map(nodes.map((n) => [n.id, n]));
  const edges = deps.map((d) => {
    const a = at.get(d.upstreamid)!;
    const b = at.get(d.stepid)!;
    return { from: d.upstreamid, to: d.stepid, x1: a.x + a.width, y1: a.y + a.height / 2, x2: b.x, y2: b.y + b.height / 2 };
  });
  const width = Math.max(...nodes.map((n) => n.x + n.width), 0) + MARGIN;
  const height = Math.max(...nodes.map((n) => n.y + n.height), 0) + MARGIN;
  return { workflowid, name: wf.name, status: wf.status, nodes, edges, width, height };
}

/** Fill colours of a step's state, the same as the grid's cells (views/static/dpc.css). */
export const STATE_COLOURS: Record<string, string> = {
  WAITING: '#d9d9d9',
  RUNNING: '#9ecae1',
  SUCCESS: '#a1d99b',
  FAILED: '#fc9272',
  CANCELLED: '#fdd0a2',
};

const escapeXml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The graph as an SVG element, for the workflow page: no script, names escaped. */
export function renderGraphSvg(g: Graph): string {
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="${g.width}" height="${g.height}" viewBox="0 0 ${g.width} ${g.height}" role="img" aria-label="steps of workflow ${g.workflowid}">`];
  parts.push('<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>');
  for (const e of g.edges) {
    const mid = (e.x1 + e.x2) / 2;
    parts.push(`<path d="M${e.x1},${e.y1} C${mid},${e.y1} ${mid},${e.y2} ${e.x2},${e.y2}" fill="none" stroke="#555" marker-end="url(#arrow)"/>`);
  }
  for (const n of g.nodes) {
    const done = n.counts.SUCCESS;
    const total = Object.values(n.counts).reduce((a, b) => a + b, 0);
    const failed = n.counts.FAILED > 0 ? `, ${n.counts.FAILED} failed` : '';
    parts.push(
      `<g class="step ${escapeXml(n.status)}"><title>${escapeXml(`${n.name}: ${n.status}, ${done}/${total} jobs done${failed}`)}</title>` +
        `<rect x="${n.x}" y="${n.y}" width="${n.width}" height="${n.height}" rx="4" fill="${STATE_COLOURS[n.status] ?? '#ffffff'}" stroke="#333"/>` +
        `<text x="${n.x + 8}" y="${n.y + 18}" font-size="13" font-family="sans-serif">${escapeXml(n.name.length > 22 ? `${n.name.slice(0, 21)}…` : n.name)}</text>` +
        `<text x="${n.x + 8}" y="${n.y + 36}" font-size="11" font-family="sans-serif">${escapeXml(`${n.status} ${done}/${total}${failed}`)}</text></g>`,
    );
  }
  parts.push('</svg>');
  return parts.join('');
}
