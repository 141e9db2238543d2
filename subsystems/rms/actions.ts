import type { Knex } from 'knex';
import type { Actor } from '../../core/actor.js';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../core/db.js';
import type { Bus } from '../ems/index.js';
import type { AuditEntry } from '../smas/index.js';
import { settleWorkflow, type Finished } from './bookkeeping.js';
import { validPriority } from './descriptor.js';
import { coreErrors } from '../../core/errors.js';
import { rmsErrors } from './errors.js';
import { transaction } from './queue.js';
import { jobRange, moveStepJobs, selectJob, selectJobStates, selectWorkflowJobs, setJobPriority } from './sql/jobs.js';
import { moveStep, selectSteps, type StepRow } from './sql/steps.js';
import { lockWorkflow, moveWorkflow, type LockedWorkflow } from './sql/workflows.js';
import { ACTIVE, JobWork, ref, type JobRef, type JobStatus } from './work.js';

// One Actor for every action: the reason an operator gives travels in it to the audit row.
export type { Actor };

export interface ActionDeps {
  db: Db;
  bus: Bus;
  clock: Clock;
  audit(trx: Knex.Transaction, entry: AuditEntry): Promise<void>;
  onFinished(finished: Finished[]): void;
}

/**
 * The operator's actions on workflows and jobs (seed 001's Workflow Manager: resume failed
 * jobs, change job priority; and pause, resume, cancel, retry). Each runs in one
 * transaction with the workflow locked, and is audited in it: who, when, why.
 */
export class Actions {
  constructor(private readonly d: ActionDeps) {}

  pause(workflowid: number, who: Actor): Promise<void> {
    return this.onWorkflow(workflowid, who, 'workflow.pause', ['RUNNING'], async (work, wf) => {
      await moveWorkflow(work.trx, { id: wf.id, from: ['RUNNING'], to: 'PAUSED', endtime: null, reason: who.reason ?? null });
      // Jobs already running finish; those waiting to be claimed wait for the resume.
      await this.moveRunningSteps(work, wf, 'READY', 'WAITING');
    });
  }

  resume(workflowid: number, who: Actor): Promise<void> {
    return this.onWorkflow(workflowid, who, 'workflow.resume', ['PAUSED'], async (work, wf) => {
      await moveWorkflow(work.trx, { id: wf.id, from: ['PAUSED'], to: 'RUNNING', endtime: null, reason: null });
      await this.moveRunningSteps(work, wf, 'WAITING', 'READY');
    });
  }

  /** Cancels every job not yet finished; running ones are stopped by their executor. */
  cancel(workflowid: number, who: Actor): Promise<void> {
    return this.onWorkflow(workflowid, who, 'workflow.cancel', ['RUNNING', 'PAUSED'], async (work, wf, now) => {
      for (const step of (await selectSteps(work.trx, { workflowid: wf.id })) as StepRow[]) {
        for (const from of ACTIVE) {
          const n = Number(await moveStepJobs(work.trx, { jobs: jobRange(wf), stepid: Number(step.id), from, to: 'CANCELLED', set: { endtime: now, lease_until: null, reason: `cancelled by ${who.username}` } }));
          if (n > 0) work.count(wf.id, Number(step.id), from, 'CANCELLED', n);
        }
        await moveStep(work.trx, { id: Number(step.id), from: ['WAITING', 'RUNNING'], to: 'CANCELLED', starttime: null, endtime: now });
      }
      await work.flushCounts();
      await moveWorkflow(work.trx, { id: wf.id, from: ['RUNNING', 'PAUSED'], to: 'CANCELLED', endtime: now, reason: `cancelled by ${who.username}${who.reason ? `: ${who.reason}` : ''}` });
      await this.d.bus.publish(work.trx, 'workflow.finished', { workflowid: wf.id, name: wf.name, status: 'CANCELLED' });
    });
  }

  /** Runs the FAILED jobs of a workflow again, and only those; each gets its attempts anew. */
  resumeFailed(workflowid: number, who: Actor): Promise<number> {
    return this.onWorkflow(workflowid, who, 'workflow.resume-failed', ['FAILED', 'RUNNING', 'PAUSED'], async (work, wf, now) => {
      let n = 0;
      for (let after = 0; ; ) {
        const page = ((await selectWorkflowJobs(work.trx, { jobs: jobRange(wf), statuses: ['FAILED'], after, limit: 1000 })) as JobRef[]).map(ref);
        if (page.length === 0) break;
        n += await reopenJobs(work, wf, page, 'FAILED', now);
        after = page[page.length - 1].id;
      }
      return n;
    });
  }

  /** Runs one FAILED or CANCELLED job again, with its attempts anew. */
  async retryJob(jobid: number, who: Actor): Promise<void> {
    const job = await this.job(jobid);
    if (job.status !== 'FAILED' && job.status !== 'CANCELLED') throw rmsErrors.notAllowed(`job ${jobid}`, job.status, 'FAILED or CANCELLED');
    await this.onWorkflow(job.workflowid, { ...who }, 'job.retry', ['RUNNING', 'PAUSED', 'FAILED', 'CANCELLED'], async (work, wf, now) => {
      if ((await reopenJobs(work, wf, [job], job.status as 'FAILED' | 'CANCELLED', now)) === 0) {
        throw rmsErrors.notAllowed(`job ${jobid}`, 'no longer FAILED or CANCELLED', 'FAILED or CANCELLED');
      }
    }, `job ${jobid}`);
  }

  /** Cancels one job that has not finished; if it runs, its executor stops it. */
  async cancelJob(jobid: number, who: Actor): Promise<void> {
    const job = await this.job(jobid);
    await this.onWorkflow(job.workflowid, who, 'job.cancel', ['RUNNING', 'PAUSED'], async (work, _wf, now) => {
      const [current] = (await selectJobStates(work.trx, { ids: [jobid] })) as { status: JobStatus }[];
      if (!current || !ACTIVE.includes(current.status)) throw rmsErrors.notAllowed(`job ${jobid}`, current?.status ?? 'gone', 'not yet finished');
      await work.move([job], current.status, 'CANCELLED', { endtime: now, lease_until: null, reason: `cancelled by ${who.username}` });
    }, `job ${jobid}`);
  }

  /** Changes the priority of a job that waits; it takes effect at the next claim. */
  async setPriority(jobid: number, priority: number, who: Actor): Promise<void> {
    if (!who.reason?.trim()) throw coreErrors.reasonRequired('job.priority');
    if (!validPriority(priority)) throw rmsErrors.badPriority(`job ${jobid}`, priority);
    const job = await this.job(jobid);
    await transaction(this.d.db, async (trx) => {
      if (Number(await setJobPriority(trx, { id: jobid, priority })) === 0) throw rmsErrors.notAllowed(`job ${jobid}`, job.status, 'WAITING, READY or RETRY_WAIT');
      await this.d.audit(trx, { ...who, action: 'job.priority', target: `job ${jobid}`, detail: { from: job.priority, to: priority } });
    });
  }

  private async job(jobid: number): Promise<JobRef & { status: JobStatus; priority: number }> {
    const [row] = (await selectJob(this.d.db.knex, { id: jobid })) as (JobRef & { status: JobStatus; priority: number })[];
    if (!row) throw rmsErrors.jobNotFound(jobid);
    return { ...ref(row), status: row.status, priority: Number(row.priority) };
  }

  private async moveRunningSteps(work: JobWork, wf: LockedWorkflow, from: JobStatus, to: JobStatus): Promise<void> {
    for (const step of (await selectSteps(work.trx, { workflowid: wf.id })) as StepRow[]) {
      if (step.status !== 'RUNNING') continue;
      const n = Number(await moveStepJobs(work.trx, { jobs: jobRange(wf), stepid: Number(step.id), from, to, set: {} }));
      if (n > 0) work.count(wf.id, Number(step.id), from, to, n);
    }
    await work.flushCounts();
  }

  private async onWorkflow<T>(
    workflowid: number,
    who: Actor,
    action: string,
    allowed: string[],
    change: (work: JobWork, wf: LockedWorkflow, now: number) => Promise<T>,
    target = `workflow ${workflowid}`,
  ): Promise<T> {
    if (!who.reason?.trim()) throw coreErrors.reasonRequired(action);
    const { result, finished } = await transaction(this.d.db, async (trx) => {
      const now = this.d.clock.now();
      const [row] = (await lockWorkflow(trx, { id: workflowid })) as LockedWorkflow[];
      if (!row) throw rmsErrors.workflowNotFound(workflowid);
      const wf = { ...row, id: Number(row.id) };
      if (!allowed.includes(wf.status)) throw rmsErrors.notAllowed(`workflow ${workflowid}`, wf.status, allowed.join(' or '));
      const work = new JobWork(trx);
      const result = await change(work, wf, now);
      await this.d.audit(trx, { ...who, action, target });
      const done = await settleWorkflow(work, this.d.bus, wf.id, now);
      return { result, finished: done ? [done] : [] };
    });
    if (finished.length > 0) this.d.onFinished(finished);
    return result;
  }
}

/** Jobs back to the queue (WAITING in a paused workflow), their step and workflow running again. */
export async function reopenJobs(work: JobWork, wf: LockedWorkflow, jobs: JobRef[], from: 'FAILED' | 'CANCELLED', now: number): Promise<number> {
  const to: JobStatus = wf.status === 'PAUSED' ? 'WAITING' : 'READY';
  const n = await work.move(jobs, from, to, { attempts: 0, endtime: null, reason: null, claimed_by: null, lease_until: null, run_after: now });
  for (const stepid of new Set(jobs.map((j) => j.stepid))) {
    await moveStep(work.trx, { id: stepid, from: ['FAILED', 'CANCELLED', 'SUCCESS'], to: 'RUNNING', starttime: null, endtime: null });
  }
  if (wf.status === 'FAILED' || wf.status === 'CANCELLED') {
    await moveWorkflow(work.trx, { id: wf.id, from: ['FAILED', 'CANCELLED'], to: 'RUNNING', endtime: null, reason: null });
    wf.status = 'RUNNING';
  }
  return n;
}
