import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { isUniqueViolation } from '../../core/db.js';
import { messageOf } from '../../core/errors.js';
import type { Context, Subsystem } from '../../core/subsystem.js';
import type { DssService } from '../dss/index.js';
import type { EmsService } from '../ems/index.js';
import type { SmasService } from '../smas/index.js';
import { Actions, type Actor } from './actions.js';
import type { Finished } from './bookkeeping.js';
import { CRON_LEASE, CronTriggers, type CronSlot } from './cron.js';
import type { Params, WorkflowDescriptor } from './descriptor.js';
import { rmsErrors } from './errors.js';
import { Overview } from './overview.js';
import { createWorkflow, type StartRequest, type Started } from './workflows.js';
import { recordConfig } from './provenance.js';
import { JobQueue, transaction } from './queue.js';
import { createOperations, type RmsOperations } from './operations.js';
import { operationsPages } from './pages/operations.js';
import { workflowPages } from './pages/workflows.js';
import { Registry, type DescriptorSummary } from './registry.js';
import { rmsApi } from './routes.js';
import { Reads } from './reads.js';
import { Tracking } from './tracking.js';
import { trackingApi, trackingPages } from './trackingRoutes.js';
import { purgeFinishedJobs } from './retention.js';
import { jobRange, selectJobSpecs } from './sql/jobs.js';
import { insertCronFire } from './sql/solutions.js';
import { selectSteps, type StepRow } from './sql/steps.js';
import { selectWorkflow, type WorkflowRow } from './sql/workflows.js';
import { isFinished } from './work.js';

export type { WorkflowDescriptor, StepDescriptor, Trigger, Params } from './descriptor.js';
export type { ClaimedJob, Outcome } from './queue.js';
export type { Actor } from './actions.js';
export type { PoolFacts } from './explain.js';
export type { RmsOperations } from './operations.js';
export type { Started } from './workflows.js';
export type { WorkAtAGlance } from './overview.js';
export type { DescriptorSummary } from './registry.js';
export { rmsErrors } from './errors.js';
export { isFinished } from './work.js';

export interface RmsService {
  /** Checks and versions a workflow descriptor; throws naming the workflow and step. */
  register(descriptor: WorkflowDescriptor): Promise<{ descid: number; version: number }>;
  /** Starts a workflow by hand (console, API, CLI). */
  start(name: string, request: { params?: Params; priority?: number; runid?: string }, who: Actor): Promise<Started>;
  /** One workflow per day from `from` to `to` (YYYY-MM-DD, inclusive), each with `{ day }` in its parameters. */
  backfill(name: string, from: string, to: string, who: Actor, params?: Params): Promise<Started[]>;
  /** Runs a finished workflow again under a new solution ID: all of it, or only what did not succeed. */
  reprocess(workflowid: number, options: { failedOnly: boolean }, who: Actor): Promise<Started>;
  /** The workflow descriptors of this process: versions, triggers, next cron firing (the Workflow Descriptor table). */
  descriptors(): Promise<DescriptorSummary[]>;
  actions: Actions;
  queue: JobQueue;
  reads: Reads;
  /** Today's work at a glance and the queue's depth: the Welcome page and the Node Monitor. */
  overview: Overview;
  /** The console's job query, bulk actions, triage, why-not-running, grid and graph. */
  ops: RmsOperations;
  /** Archives and purges finished jobs that ended before `before`; solutions and provenance stay. */
  purge(dir: string, before: number): Promise<number>;
}

export const REAPER_LEASE = 'rms.reaper';

/**
 * Run management: workflow descriptors and their versions, workflows from cron, data,
 * manual, backfill and reprocessing triggers, the durable job queue and the operator's
 * actions on it, solutions and provenance.
 */
export function createRms(
  ctx: Context<{ ems: EmsService; dss: DssService; smas: SmasService; hasTask(name: string): boolean; descriptors: WorkflowDescriptor[] }>,
): Subsystem<RmsService> {
  const { db, clock, log, bus, config, services } = ctx;
  const registry = new Registry(db, clock, services.hasTask);
  let configid = 0;

  const onFinished = (finished: Finished[]) => {
    for (const f of finished) {
      const fields = { workflow: f.workflowid, name: f.name, status: f.status };
      // The mission log's entry comes from the instance's durable event (EMS), once however often it is delivered.
      if (f.status === 'FAILED') log.warn(`workflow ${f.name} ${f.workflowid} FAILED`, fields);
      else log.info(`workflow ${f.name} ${f.workflowid} ${f.status}`, fields);
    }
  };
  const queue = new JobQueue(db, bus, clock, ctx.processId, config.rms.jobLeaseMs, config.rms.maxHandbacks, onFinished, config.rms.share);
  const actions = new Actions({ db, bus, clock, audit: (trx, e) => services.smas.audit(trx, e), onFinished });
  const reads = new Reads(db);
  const ops = createOperations({
    db, bus, clock, audit: (trx, e) => services.smas.audit(trx, e), onFinished, queue, share: config.rms.share,
    announce: (who, r) => {
      const message = `bulk ${r.action} by ${who.username}: ${r.changed} job(s) changed of ${r.matched}${r.exact ? '' : '+'} matching${r.skipped ? `, ${r.skipped} left (their workflow's state)` : ''}; reason: ${who.reason ?? ''}`;
      log.info(message, { action: r.action, changed: r.changed, matched: r.matched });
      void services.ems.missionLog.append({ severity: 'INFO', subsystem: 'rms', message, username: who.username }).catch((err) => log.warn('could not write the mission log', { error: messageOf(err) }));
    },
  });

  async function startWorkflow(name: string, req: StartRequest, who?: Actor): Promise<Started> {
    const reg = registry.get(name);
    const started = await transaction(db, async (trx) => {
      const s = await createWorkflow(trx, bus, reg, req, { now: clock.now(), configid, version: ctx.version });
      if (who && s.created) await services.smas.audit(trx, { ...who, action: `workflow.${req.trigger.toLowerCase()}`, target: `workflow ${s.id}`, detail: { name, runid: req.runid } });
      return s;
    }).catch((err: unknown) => {
      // Two processes (or a redelivered event) started the same run: the first one counts.
      if (isUniqueViolation(err)) return { id: 0, created: false, jobs: 0 } as Started;
      throw err;
    });
    if (started.created) {
      log.info(`workflow ${name} ${started.id} started (${req.trigger}, ${started.jobs} jobs)`, { workflow: started.id, name, runid: req.runid });
      if (started.finished) onFinished([started.finished]);
    }
    return started;
  }

  async function fireCron(slot: CronSlot): Promise<void> {
    const iso = new Date(slot.scheduled).toISOString();
    const { reg, cronName } = slot;
    await transaction(db, async (trx) => {
      let workflowid: number | null = null;
      if (slot.outcome !== 'SKIPPED') {
        const s = await createWorkflow(trx, bus, reg, { trigger: 'CRON', runid: `cron-${iso}`, params: { ...slot.params, scheduled: iso }, createdBy: 'cron' }, { now: clock.now(), configid, version: ctx.version });
        workflowid = s.id;
      }
      await insertCronFire(trx, { cron_name: cronName, scheduled: slot.scheduled, fired: clock.now(), outcome: slot.outcome, workflowid, processid: ctx.processId });
    }).then(
      () => {
        log.info(`cron ${cronName} ${slot.outcome} for ${iso}`, { workflow: reg.descriptor.name, cron: cronName });
        if (slot.outcome !== 'FIRED') {
          const message = slot.outcome === 'CAUGHT_UP' ? `cron ${cronName}: the firing of ${iso} was missed while no DPC ran; fired now` : `cron ${cronName}: the firing of ${iso} was missed while no DPC ran; skipped (rms.cron.catchUp is false)`;
          void services.ems.missionLog.append({ severity: 'WARNING', subsystem: 'rms', message }).catch(() => undefined);
        }
      },
      (err: unknown) => {
        if (!isUniqueViolation(err)) throw err; // another process fired this slot first
      },
    );
  }

  const crons = new CronTriggers(db, clock, log, config.rms.cron, () => services.smas.leases.isHeld(CRON_LEASE), fireCron);

  let reaper: NodeJS.Timeout | undefined;
  let reaperRound: Promise<void> | undefined;
  // One round of the reaper: hands back the jobs of lapsed leases, and readies the retries that are due.
  const runReaper = () => {
    if (!services.smas.leases.isHeld(REAPER_LEASE) || reaperRound) return;
    reaperRound = (async () => {
      const handedBack = await queue.handBackLapsed();
      if (handedBack > 0) log.warn(`${handedBack} job(s) handed back to the queue: their process stopped renewing their lease`, { count: handedBack });
      await queue.promoteRetries();
    })()
      .catch((err: unknown) => void log.warn('the reaper failed', { error: messageOf(err) }))
      .finally(() => (reaperRound = undefined));
  };

  const service: RmsService = {
    register: async (descriptor) => {
      const r = await registry.register(descriptor);
      return { descid: r.descid, version: r.version };
    },
    start: (name, request, who) => {
      if (!who.reason?.trim()) who = { ...who, reason: 'manual start' };
      return startWorkflow(name, { trigger: 'MANUAL', runid: request.runid ?? `manual-${randomUUID()}`, params: request.params ?? {}, priority: request.priority, createdBy: who.username }, who);
    },
    backfill: async (name, from, to, who, params = {}) => {
      const days = dayRange(from, to);
      const batch = randomUUID().slice(0, 8);
      const out: Started[] = [];
      // One request, one share however many days: each day's jobs are of the first day's share.
      let shareid: number | undefined;
      for (const day of days) {
        const started = await startWorkflow(name, { trigger: 'BACKFILL', runid: `backfill-${day}-${batch}`, params: { ...params, day }, createdBy: who.username, shareid }, who);
        if (started.created) shareid ??= started.id;
        out.push(started);
        // On SQLite a creation never waits on I/O: without a turn of the event loop between
        // days, timers, requests and the dispatcher's claims would wait for the whole backfill.
        await new Promise((r) => setImmediate(r));
      }
      return out;
    },
    reprocess: async (workflowid, options, who) => {
      const [parent] = (await selectWorkflow(db.knex, { id: workflowid })) as WorkflowRow[];
      if (!parent) throw rmsErrors.workflowNotFound(workflowid);
      if (!isFinished(parent.status)) throw rmsErrors.notAllowed(`workflow ${workflowid}`, parent.status, 'SUCCESS, FAILED or CANCELLED');
      const steps = (await selectSteps(db.knex, { workflowid })) as StepRow[];
      const nameOf = new Map(steps.map((s) => [Number(s.id), s.name]));
      const jobsOf = new Map<string, string[] | 'done'>(steps.map((s) => [s.name, options.failedOnly && s.status === 'SUCCESS' ? 'done' : []]));
      for (let after = 0; ; ) {
        const page = (await selectJobSpecs(db.knex, { jobs: jobRange(parent), after, limit: 5000 })) as { id: number; stepid: number; status: string; dataspec: string | null }[];
        if (page.length === 0) break;
        for (const j of page) {
          const list = jobsOf.get(nameOf.get(Number(j.stepid)) ?? '');
          if (Array.isArray(list) && !(options.failedOnly && j.status === 'SUCCESS')) list.push(j.dataspec ?? '{}');
        }
        after = Number(page[page.length - 1].id);
      }
      return startWorkflow(
        parent.name,
        {
          trigger: 'REPROCESS',
          runid: `reprocess-${workflowid}-${randomUUID().slice(0, 8)}`,
          params: JSON.parse(parent.params ?? '{}') as Params,
          priority: Number(parent.priority),
          createdBy: who.username,
          parentid: workflowid,
          jobsOf,
        },
        { ...who, reason: who.reason || `reprocessing of workflow ${workflowid}` },
      );
    },
    descriptors: () => registry.summaries((cronName) => crons.nextFiring(cronName)),
    actions,
    queue,
    reads,
    overview: new Overview(db),
    ops,
    purge: async (dir, before) => (await purgeFinishedJobs({ db, dir, before, batchSize: config.rms.retention.batchSize, log, clock })).archived,
  };

  const tracking = new Tracking(db);
  const api = rmsApi(service);
  api.use(trackingApi(tracking));

  let unsubscribe: (() => void) | undefined;
  return {
    name: 'rms',
    service,
    api,
    pages: {
      // Operations first: /rms/jobs/:id (one job) would otherwise take /rms/jobs/priority and /rms/jobs/bulk.
      router: Router().use(operationsPages(service), workflowPages(service), trackingPages(tracking)),
      menu: [
        { title: 'Workflow manager', path: '/rms/workflows' },
        { title: 'Jobs', path: '/rms/jobs' },
        { title: 'Failure triage', path: '/rms/triage' },
        { title: 'Configuration tracking', path: '/rms/solutions' },
      ],
    },
    async start() {
      configid = await recordConfig(db, config, ctx.version, clock);
      for (const descriptor of services.descriptors) await registry.register(descriptor);
      // A dataset that arrives starts every workflow whose data trigger it matches, once per event.
      unsubscribe = bus.subscribe('dataset.updated', 'rms.dataTrigger', async (event, delivery) => {
        for (const reg of registry.all()) {
          for (const t of reg.descriptor.triggers ?? []) {
            if (t.kind !== 'data' || t.dmtype !== event.dmtype || !overlaps(t, event)) continue;
            // One line per delivery, before the workflow: a repeat (at least once) shows as a second line of the same event.
            log.info(`data trigger: dataset ${event.datasetid} (${event.dmtype}) starts ${reg.descriptor.name}, event ${delivery.eventid} attempt ${delivery.attempt}`, {
              name: reg.descriptor.name,
              eventid: delivery.eventid,
              attempt: delivery.attempt,
              datasetid: event.datasetid,
            });
            await startWorkflow(reg.descriptor.name, {
              trigger: 'DATA',
              runid: `event-${delivery.eventid}`,
              params: {
                datasetid: event.datasetid,
                dmtype: event.dmtype,
                timeFrom: event.timeFrom,
                timeTo: event.timeTo,
                // The dataset's solution is what the workflow reads: its provenance reaches back to it.
                ...(event.solutionid === undefined ? {} : { inputSolutions: [{ id: event.solutionid, dmtype: event.dmtype }] }),
              },
              createdBy: 'data trigger',
              transferid: event.transferid ?? null,
            });
          }
        }
      });
      crons.start(registry.all());
      services.smas.leases.hold(CRON_LEASE, { onAcquired: () => crons.catchUp() });
      services.smas.leases.hold(REAPER_LEASE);
      reaper = setInterval(runReaper, config.rms.reaperMs);
      reaper.unref();
      if (config.rms.demo) {
        await startWorkflow('demo', { trigger: 'MANUAL', runid: 'demo-first-run', params: { day: new Date(clock.now()).toISOString().slice(0, 10) }, createdBy: 'dpc' });
      }
    },
    async stop() {
      clearInterval(reaper);
      unsubscribe?.();
      await crons.stop();
      await reaperRound;
    },
    async health() {
      return { state: 'UP', detail: `${registry.all().length} workflow descriptor(s)` };
    },
  };
}

function overlaps(t: { timeFrom?: string; timeTo?: string }, e: { timeFrom?: string; timeTo?: string }): boolean {
  // Mission times are nanoseconds as text: compared as BigInt, never as numbers.
  if (t.timeFrom !== undefined && e.timeTo !== undefined && BigInt(e.timeTo) < BigInt(t.timeFrom)) return false;
  if (t.timeTo !== undefined && e.timeFrom !== undefined && BigInt(e.timeFrom) > BigInt(t.timeTo)) return false;
  return true;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const MAX_BACKFILL_DAYS = 3660;

function dayRange(from: string, to: string): string[] {
  const start = DAY.test(from) ? Date.parse(`${from}T00:00:00Z`) : NaN;
  const end = DAY.test(to) ? Date.parse(`${to}T00:00:00Z`) : NaN;
  if (Number.isNaN(start) || Number.isNaN(end)) throw rmsErrors.badParams(`backfill needs days as YYYY-MM-DD; got from ${JSON.stringify(from)}, to ${JSON.stringify(to)}`);
  if (end < start) throw rmsErrors.badParams(`backfill: ${to} is before ${from}`);
  const n = (end - start) / 86_400_000 + 1;
  if (n > MAX_BACKFILL_DAYS) throw rmsErrors.badParams(`backfill of ${n} days; at most ${MAX_BACKFILL_DAYS} at once`);
  return Array.from({ length: n }, (_, i) => new Date(start + i * 86_400_000).toISOString().slice(0, 10));
}
