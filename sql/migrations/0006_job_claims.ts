import type { Ddl } from '../ddl.js';

/**
 * Each job counts its claims (rms_job.claim, one more at every claim). Every move a holder
 * makes of a job, and every outcome it records, names the claim it holds: a process that
 * stalled past its lease, whose job was handed back and claimed again (by another process or
 * by itself), finds the count moved on and changes nothing. Fencing by the process
 * (claimed_by) alone let the stop of a lapsed run be recorded as the failure of the new claim.
 *
 * rms_job.lapsed_by is the process whose lease of the job last lapsed: a hand-back counts
 * towards rms.maxReclaims when it is made (its holder may be dead), and its holder, when it
 * comes back (its link was cut, or it was frozen), takes back the count of every job it let
 * lapse, those it knew it held and those whose claim's answer it never got: a flapping link
 * does not poison jobs. Indexed only where set (Oracle leaves rows without a value out of a
 * B-tree index).
 */
export const name = '0006_job_claims';

export function up(ddl: Ddl): void {
  ddl.alter('rms_job', (c) => {
    c.int('claim').notNullable().defaultTo(0);
    c.str('lapsed_by', 64);
  });
  ddl.index('rms_job', 'lapsed_ix', ['lapsed_by'], { column: 'lapsed_by', notNull: true, sqlite: true });
}
