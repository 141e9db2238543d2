import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Clock } from '../../core/clock.js';
import { isUniqueViolation, type Db } from '../../core/db.js';
import { insertedId } from '../../core/query.js';
import { insertConfig, insertSolution, insertSolutionMeta, selectConfigByHash } from './sql/solutions.js';

/** Keys whose values are secrets: they never reach the configuration instance. */
const SECRET = /password|secret|token|key$/i;

/** A copy with every secret masked, keys sorted, so that equal configurations hash alike. */
export function canonicalConfig(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => canonicalConfig(v));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonicalConfig((value as Record<string, unknown>)[k], k)]));
  }
  return SECRET.test(key) && !key.endsWith('File') && typeof value === 'string' && value !== '' ? '****' : value;
}

/**
 * The configuration instance of this process (ARCHITECTURE §5): the effective configuration,
 * secrets masked, with the software version, identified by its hash, recorded once.
 */
export async function recordConfig(db: Db, config: unknown, version: string, clock: Clock): Promise<number> {
  const content = JSON.stringify({ version, config: canonicalConfig(config) });
  const hash = createHash('sha256').update(content).digest('hex');
  const [found] = (await selectConfigByHash(db.knex, { hash })) as { id: number }[];
  if (found) return Number(found.id);
  try {
    return insertedId(await insertConfig(db.knex, { hash, sw_version: version, content, created: clock.now() }));
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    // Another process sharing the database recorded the same configuration first.
    const [again] = (await selectConfigByHash(db.knex, { hash })) as { id: number }[];
    if (again) return Number(again.id);
    throw err;
  }
}

/** The solutions a workflow reads, as its trigger or operator named them (`inputSolutions: [{id, dmtype}]`). */
export function inputSolutions(params: Record<string, unknown>): { id: number; dmtype: string }[] {
  const given = params.inputSolutions;
  if (!Array.isArray(given)) return [];
  return (given as { id: unknown; dmtype: unknown }[]).map((g) => ({ id: Number(g.id), dmtype: String(g.dmtype) })).filter((g) => Number.isSafeInteger(g.id));
}

/** The output solution of a workflow and its provenance links, written with the workflow. */
export async function recordSolution(
  trx: Knex.Transaction,
  s: { dmtype: string; version: string; configid: number; workflowid: number; now: number; automatic: boolean; description: string | null; inputs: { id: number; dmtype: string }[] },
): Promise<number> {
  const id = insertedId(
    await insertSolution(trx, {
      dmtype: s.dmtype,
      sw_version: s.version,
      configid: s.configid,
      workflowid: s.workflowid,
      generationtime: s.now,
      automaticallygenerated: s.automatic ? 1 : 0,
      description: s.description,
    }),
  );
  if (s.inputs.length > 0) {
    await insertSolutionMeta(trx, {
      rows: s.inputs.map((i) => ({
        inputsolutionid: i.id,
        outputsolutionid: id,
        inputdmtype: i.dmtype,
        outputdmtype: s.dmtype,
        generationtime: s.now,
        automaticallygenerated: s.automatic ? 1 : 0,
      })),
    });
  }
  return id;
}
