import type { Bus } from '../ems/index.js';
import { countsOfWorkflow } from './sql/jobCounts.js';
import { jobRange, moveStepJobs } from './sql/jobs.js';
import { moveStep, selectStepDeps, selectSteps, type StepRow } from './sql/steps.js';
import { lockWorkflow, moveWorkflow, type LockedWorkflow } from './sql/workflows.js';
import { ACTIVE, emptyCounts, type FinishedStatus, type JobStatus, type JobWork } from './work.js';

export interface Finished {
  workflowid: number;
  name: string;
  status: FinishedStatus;
}

/**
 * Advances the workflows whose jobs a transaction changed: a step whose jobs have all
 * finished ends (SUCCESS only if all succeeded), the steps after it start once all their
 * upstream steps succeeded, and a workflow with no step left running ends. It runs in the
 * transaction of the job changes with the workflow locked, so two processes finishing the
 * last jobs of two parallel steps cannot both miss the end.
 */
export async function advance(work: JobWork, bus: Bus, now: number): Promise<Finished[]> {
  const touched = new Map(work.touched);
  work.touched.clear();
  const workflowsOf = (stepids: number[]) => [...new Set(stepids.map((id) => touched.get(id) as number))].sort((a, b) => a - b);
  await work.flushCounts();
  // A step whose active states all still hold jobs has not settled: its counts need not be read.
  const candidates = [...touched.keys()].filter((id) => work.emptied.has(id));
  work.emptied.clear();
  // Their workflows are locked before their counts are read. Two transactions that count a
  // step's last jobs out of two different states at once cannot see each other's change:
  // both would find a job left, and the step would never end. Locked, the later one reads
  // the counts after the earlier one committed, and sees them all.
  for (const workflowid of workflowsOf(candidates)) await lockWorkflow(work.trx, { id: workflowid });
  const counts = await work.counts(candidates);
  const settled = candidates.filter((id) => ACTIVE.every((s) => (counts.get(id)?.[s] ?? 0) === 0));
  const finished: Finished[] = [];
  for (const workflowid of workflowsOf(settled)) {
    const done = await settleWorkflow(work, bus, workflowid, now);
    if (done) finished.push(done);
  }
  return finished;
}

/**
 * Brings one workflow's steps up to date with their jobs, then ends it if nothing is left
 * to run. Also used after operator actions and when a workflow is created.
 */
export async function settleWorkflow(work: JobWork, bus: Bus, workflowid: number, now: number): Promise<Finished | undefined> {
  const { trx } = work;
  const [wf] = (await lockWorkflow(trx, { id: workflowid })) as LockedWorkflow[];
  if (!wf || !['RUNNING', 'PAUSED'].includes(wf.status)) return undefined;
  await work.flushCounts();
  const steps = ((await selectSteps(trx, { workflowid })) as StepRow[]).map((s) => ({ ...s, id: Number(s.id) }));
  const deps = (await selectStepDeps(trx, { workflowid })) as { stepid: number; upstreamid: number }[];
  const counts = new Map<number, Record<JobStatus, number>>();
  for (const r of (await countsOfWorkflow(trx, { workflowid })) as { stepid: number; status: JobStatus; jobs: number }[]) {
    const c = counts.get(Number(r.stepid)) ?? emptyCounts();
    c[r.status] = Number(r.jobs);
    counts.set(Number(r.stepid), c);
  }
  const status = new Map(steps.map((s) => [s.id, s.status]));
  const upstream = new Map<number, number[]>();
  for (const d of deps) upstream.set(Number(d.stepid), [...(upstream.get(Number(d.stepid)) ?? []), Number(d.upstreamid)]);

  // Repeats until nothing changes: a step with no jobs ends as soon as it starts.
  for (let changed = true; changed; ) {
    changed = false;
    for (const step of steps) {
      const c = counts.get(step.id) ?? emptyCounts();
      const current = status.get(step.id);
      if (current === 'RUNNING' && ACTIVE.every((s) => c[s] === 0)) {
        const end: FinishedStatus = c.FAILED > 0 ? 'FAILED' : c.CANCELLED > 0 ? 'CANCELLED' : 'SUCCESS';
        await moveStep(trx, { id: step.id, from: ['RUNNING'], to: end, starttime: null, endtime: now });
        status.set(step.id, end);
        changed = true;
      } else if (current === 'WAITING' && (upstream.get(step.id) ?? []).every((u) => status.get(u) === 'SUCCESS')) {
        await moveStep(trx, { id: step.id, from: ['WAITING'], to: 'RUNNING', starttime: now, endtime: null });
        status.set(step.id, 'RUNNING');
        // A paused workflow keeps its jobs WAITING until it is resumed.
        if (wf.status === 'RUNNING' && c.WAITING > 0) {
          const n = Number(await moveStepJobs(trx, { jobs: jobRange(wf), stepid: step.id, from: 'WAITING', to: 'READY', set: {} }));
          work.count(workflowid, step.id, 'WAITING', 'READY', n);
          c.WAITING -= n;
          c.READY += n;
        }
        changed = true;
      }
    }
  }
  await work.flushCounts();
  work.touched.clear();

  if ([...status.values()].some((s) => s === 'RUNNING')) return undefined;
  const values = [...status.values()];
  const end: FinishedStatus = values.every((s) => s === 'SUCCESS') ? 'SUCCESS' : values.includes('FAILED') ? 'FAILED' : 'CANCELLED';
  const reason = end === 'SUCCESS' ? null : `step ${steps.filter((s) => status.get(s.id) === end).map((s) => s.name).join(', ')} ${end === 'FAILED' ? 'failed' : 'was cancelled'}`;
  if (Number(await moveWorkflow(trx, { id: workflowid, from: ['RUNNING', 'PAUSED'], to: end, endtime: now, reason })) === 0) return undefined;
  await bus.publish(trx, 'workflow.finished', { workflowid, name: wf.name, status: end });
  if (end === 'FAILED') await bus.publish(trx, 'workflow.failed', { workflowid, name: wf.name, reason: reason ?? 'failed' });
  return { workflowid, name: wf.name, status: end };
}
