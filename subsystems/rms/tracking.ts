import type { Db } from '../../core/db.js';
import { numberOrNull } from '../../core/query.js';
import { rmsErrors } from './errors.js';
import { canonicalConfig } from './provenance.js';
import { selectConfig, selectSolution } from './sql/solutions.js';
import { listConfigs, listSolutions, metaOfInput, metaOfOutput } from './sql/tracking.js';

const clamp = (n: number | undefined) => Math.min(Math.max(n ?? 50, 1), 500);

function solutionRow(r: Record<string, unknown>) {
  return { ...r, id: Number(r.id), configid: numberOrNull(r.configid), workflowid: numberOrNull(r.workflowid), generationtime: Number(r.generationtime), automaticallygenerated: Number(r.automaticallygenerated) };
}

function metaRow(r: Record<string, unknown>) {
  return {
    id: Number(r.id),
    inputsolutionid: Number(r.inputsolutionid),
    outputsolutionid: Number(r.outputsolutionid),
    inputdmtype: String(r.inputdmtype),
    outputdmtype: String(r.outputdmtype),
    generationtime: Number(r.generationtime),
    automaticallygenerated: Number(r.automaticallygenerated),
  };
}

/**
 * A configuration as one value per dotted key (`db.postgresql.port`, `rms.descriptors[0]`),
 * each the JSON text of a leaf; an empty object or list is a leaf of its own, so that every
 * configuration has one flat form and two can be compared key by key.
 */
export function flattenConfig(value: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(value) && value.length > 0) value.forEach((v, i) => flattenConfig(v, `${prefix}[${i}]`, out));
  else if (value !== null && typeof value === 'object' && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) flattenConfig(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, JSON.stringify(value));
  return out;
}

export interface ConfigDiff {
  added: { key: string; b: string }[];
  removed: { key: string; a: string }[];
  changed: { key: string; a: string; b: string }[];
  /** Keys with the same value in both. */
  same: number;
}

/** The key-wise difference of two flat configurations, keys in order. */
export function diffConfigs(a: Map<string, string>, b: Map<string, string>): ConfigDiff {
  const d: ConfigDiff = { added: [], removed: [], changed: [], same: 0 };
  for (const key of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(key);
    const y = b.get(key);
    if (x === undefined) d.added.push({ key, b: y! });
    else if (y === undefined) d.removed.push({ key, a: x });
    else if (x !== y) d.changed.push({ key, a: x, b: y });
    else d.same++;
  }
  return d;
}

/**
 * Configuration Tracking (the DPCT's page): solutions with their Solution Id Metadata, the
 * configuration instance each was made under, and the difference of two instances. Content
 * is shown as stored, secrets masked, and masked again in case a row predates a masked key.
 */
export class Tracking {
  constructor(private readonly db: Db) {}

  async solutions(o: { before?: number; limit?: number; dmtype?: string } = {}) {
    return ((await listSolutions(this.db.knex, { before: o.before ?? null, limit: clamp(o.limit), dmtype: o.dmtype ?? null })) as Record<string, unknown>[]).map(solutionRow);
  }

  /** A solution, the metadata rows of its inputs and of its outputs, and its configuration instance (without content). */
  async solution(id: number) {
    const [s] = (await selectSolution(this.db.knex, { id })) as Record<string, unknown>[];
    if (!s) throw rmsErrors.solutionNotFound(id);
    const solution = solutionRow(s);
    const inputs = ((await metaOfOutput(this.db.knex, { id })) as Record<string, unknown>[]).map(metaRow);
    const outputs = ((await metaOfInput(this.db.knex, { id })) as Record<string, unknown>[]).map(metaRow);
    const config = solution.configid === null ? null : await this.configSummary(solution.configid);
    return { solution, inputs, outputs, config };
  }

  async configs(o: { before?: number; limit?: number } = {}) {
    return ((await listConfigs(this.db.knex, { before: o.before ?? null, limit: clamp(o.limit) })) as Record<string, unknown>[]).map((r) => ({ id: Number(r.id), hash: String(r.hash), sw_version: String(r.sw_version), created: Number(r.created) }));
  }

  /** A configuration instance with its effective configuration as dotted keys. */
  async config(id: number) {
    const [c] = (await selectConfig(this.db.knex, { id })) as Record<string, unknown>[];
    if (!c) throw rmsErrors.configNotFound(id);
    const content = canonicalConfig(JSON.parse(String(c.content)));
    return { id: Number(c.id), hash: String(c.hash), sw_version: String(c.sw_version), created: Number(c.created), entries: Object.fromEntries(flattenConfig(content)) };
  }

  async diff(a: number, b: number) {
    const [x, y] = [await this.config(a), await this.config(b)];
    const strip = ({ entries: _e, ...rest }: typeof x) => rest;
    return { a: strip(x), b: strip(y), ...diffConfigs(new Map(Object.entries(x.entries)), new Map(Object.entries(y.entries))) };
  }

  private async configSummary(id: number) {
    const { entries: _e, ...summary } = await this.config(id);
    return summary;
  }
}
