import type { TriggerKind } from './workflows.js';
import type { ClaimLeg } from './sql/jobs.js';

/** A pass is jobs claimed × PASS_SCALE / weight: whole numbers, the same in every dialect. */
export const PASS_SCALE = 1000;

/** The fair-share settings (rms.share). */
export interface ShareConfig {
  /** Weight of a share by the trigger of its request. */
  weights: Record<TriggerKind, number>;
  /** Weight by workflow descriptor, before the trigger's. */
  workflows: Record<string, number>;
  /** Jobs per unit of weight a share that had no READY jobs may be behind the front when it comes back. */
  credit: number;
}

/** A share of a pool with READY jobs, as a claim finds it. */
export interface ShareState {
  shareid: number;
  /** The highest priority of its READY jobs. */
  best: number;
  /** Null for a share without a row (made before its row could be). */
  pass: number | null;
  weight: number;
}

export interface ClaimPlan {
  legs: ClaimLeg[];
  /** Every pass given is first raised to this. */
  floor: number;
  /** What each job claimed adds to its share's pass. */
  perJob: Map<number, number>;
}

export function shareWeight(config: ShareConfig, trigger: string, workflow: string): number {
  return config.workflows[workflow] ?? config.weights[trigger as TriggerKind] ?? 1;
}

/**
 * Shares out a claim of `limit` jobs between the shares of a pool that have READY jobs.
 * Priority first: the shares whose best job has the highest priority share the claim, each
 * taking jobs of that priority only; one such share alone takes all its jobs above every
 * other share's best. Between them, stride scheduling: each share is given jobs while its
 * pass, plus what it was given, is the lowest (ties: the older share). A share's pass is
 * counted from at most `credit` behind the front (the highest pass), so a share that had no
 * READY jobs for a while, or is new, does not take the pool for as long as it was away.
 * What the legs leave (a share with fewer jobs at the priority) goes at the next round.
 */
export function planClaim(shares: readonly ShareState[], limit: number, credit: number): ClaimPlan {
  const perJob = new Map(shares.map((s) => [s.shareid, Math.max(1, Math.round(PASS_SCALE / s.weight))]));
  const front = Math.max(0, ...shares.map((s) => s.pass ?? 0));
  const floor = front - Math.round(credit * PASS_SCALE);
  if (shares.length === 0 || limit <= 0) return { legs: [], floor, perJob };
  const top = Math.max(...shares.map((s) => s.best));
  const first = shares.filter((s) => s.best === top).sort((a, b) => a.shareid - b.shareid);
  const rest = shares.filter((s) => s.best < top);
  if (first.length === 1) {
    const above = rest.length === 0 ? null : Math.max(...rest.map((s) => s.best));
    return { legs: [{ shareid: first[0].shareid, limit, priority: null, above }], floor, perJob };
  }
  const at = first.map((s) => Math.max(s.pass ?? floor, floor));
  const given = first.map(() => 0);
  for (let n = 0; n < limit; n++) {
    let i = 0;
    for (let j = 1; j < first.length; j++) if (at[j] < at[i]) i = j;
    given[i] += 1;
    at[i] += perJob.get(first[i].shareid)!;
  }
  const legs = first.flatMap((s, i) => (given[i] === 0 ? [] : [{ shareid: s.shareid, limit: given[i], priority: top, above: null }]));
  return { legs, floor, perJob };
}
