import type { Db } from '../../core/db.js';

/**
 * One line per job that did not succeed, of one workflow or (no id) of the whole database:
 * `job <id> <status> handbacks=<n> attempts=<n> claimed_by=<process> reason=<reason>`, the
 * reason last since it may hold spaces. A test prints them (console.log) before it asserts
 * that its jobs succeeded, so that a failure says why each job ended as it did;
 * scripts/stress/queue-kill.ts collects these lines from the runs that failed.
 */
export async function describeJobs(db: Db, workflowid?: number): Promise<string[]> {
  const query = db.knex('rms_job').whereNot({ status: 'SUCCESS' }).orderBy('id').select('id', 'status', 'handbacks', 'attempts', 'claimed_by', 'reason');
  if (workflowid !== undefined) query.andWhere({ workflowid });
  const rows = (await query) as { id: number; status: string; handbacks: number; attempts: number; claimed_by: string | null; reason: string | null }[];
  return rows.map(
    (j) => `job ${j.id} ${j.status} handbacks=${j.handbacks} attempts=${j.attempts} claimed_by=${j.claimed_by ?? '-'} reason=${(j.reason ?? '-').replace(/\s+/g, ' ')}`,
  );
}
