import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { coreErrors, DpcError, messageOf } from '../core/errors.js';
import { isFinished } from '../subsystems/rms/index.js';

/** How often --wait reads the workflows' per-step counts. */
const POLL_MS = 500;

/** A workflow as GET /api/rms/workflows/:id answers, as far as --wait reads it. */
interface WorkflowState {
  id: number;
  name: string;
  status: string;
  params: { day?: string } | null;
  counts: Record<string, number>;
}

const jobsIn = (w: WorkflowState, ...states: string[]) => states.reduce((n, s) => n + (w.counts[s] ?? 0), 0);
const totalJobs = (w: WorkflowState) => Object.values(w.counts).reduce((n, c) => n + c, 0);
const nameOf = (w: WorkflowState) => `workflow ${w.id} (${w.name}${w.params?.day ? ` ${w.params.day}` : ''})`;

/**
 * The operator's commands on workflows, jobs and pools: `dpc` calls the REST API of a running
 * server (the same actions as the console, audited the same way) with the API token of a user
 * (DPC_TOKEN, from `dpc user token` or the console's My account page), so it needs no database
 * credentials of its own.
 */
export function addOperatorCommands(program: Command, serverUrl: () => string, token: () => string | undefined): void {
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> => {
    // The server's URL may carry http.basePath (http://host/dpc/): the API lies under it.
    const url = new URL(`api${path}`, serverUrl().replace(/\/?$/, '/'));
    const secret = token();
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(secret ? { authorization: `Bearer ${secret}` } : {}) };
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw coreErrors.serverUnreachable(url.origin, messageOf(err));
    }
    const json = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
    if (!res.ok) {
      // The server's own declared error, relayed as it sent it.
      if (json.error) throw new DpcError(json.error.code, json.error.message, res.status);
      throw coreErrors.serverAnswer(url.origin, `${res.status} ${res.statusText}`);
    }
    return json;
  };
  const print = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  const params = (pairs: string[]) =>
    Object.fromEntries(
      pairs.map((p) => {
        const at = p.indexOf('=');
        if (at < 1) throw coreErrors.badRequest(`--param takes key=value; got ${JSON.stringify(p)}`);
        return [p.slice(0, at), p.slice(at + 1)];
      }),
    );
  const collect = (value: string, previous: string[]) => [...previous, value];

  /**
   * Follows workflows to their end from their per-step counts: a bar of jobs done (ended
   * SUCCESS, FAILED or CANCELLED) of all their jobs on a terminal, a line at each change
   * otherwise (a log, a pipe). Ends with DPC_CLI_WORKFLOW, naming each workflow that ended
   * FAILED or CANCELLED and how many of its jobs failed.
   */
  const wait = async (ids: number[], label: string): Promise<void> => {
    const bar = process.stdout.isTTY
      ? new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total} jobs done, {failed} failed`, stream: process.stdout }, cliProgress.Presets.shades_classic)
      : undefined;
    let shown = '';
    let states: WorkflowState[];
    for (;;) {
      states = await Promise.all(ids.map(async (id) => (await call('GET', `/rms/workflows/${id}`)) as WorkflowState));
      const done = states.reduce((n, w) => n + jobsIn(w, 'SUCCESS', 'FAILED', 'CANCELLED'), 0);
      const total = states.reduce((n, w) => n + totalJobs(w), 0);
      const failed = states.reduce((n, w) => n + jobsIn(w, 'FAILED'), 0);
      if (bar) {
        if (!shown) bar.start(total, done, { failed });
        bar.setTotal(total);
        bar.update(done, { failed });
        shown = 'bar';
      } else {
        const byStatus = [...new Set(states.map((w) => w.status))].map((s) => `${s} ${states.filter((w) => w.status === s).length}`).join(', ');
        const line = `${label}: ${done}/${total} jobs done, ${failed} failed; ${ids.length === 1 ? states[0].status : `workflows ${byStatus}`}`;
        if (line !== shown) process.stdout.write(`${line}\n`);
        shown = line;
      }
      if (states.every((w) => isFinished(w.status))) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    bar?.stop();
    const bad = states.filter((w) => w.status !== 'SUCCESS');
    if (bad.length > 0) {
      const each = bad.map((w) => `${nameOf(w)} ended ${w.status}: ${jobsIn(w, 'FAILED')} of ${totalJobs(w)} jobs failed${jobsIn(w, 'CANCELLED') ? `, ${jobsIn(w, 'CANCELLED')} cancelled` : ''}`);
      throw coreErrors.workflowsEnded(`${ids.length > 1 ? `${bad.length} of ${ids.length} workflows did not succeed: ` : ''}${each.join('; ')}`);
    }
    process.stdout.write(`${ids.length === 1 ? nameOf(states[0]) : `${label}: ${ids.length} workflows`} ended SUCCESS\n`);
  };

  const workflow = program.command('workflow').description('workflows: start, list, show, and the operator actions');
  workflow.command('list').option('--name <name>').option('--status <status>').option('--before <id>').action(async (o: { name?: string; status?: string; before?: string }) => {
    const q = new URLSearchParams(Object.entries(o).filter(([, v]) => v !== undefined) as [string, string][]);
    const { workflows } = (await call('GET', `/rms/workflows?${q}`)) as { workflows: { id: number; name: string; status: string; runid: string; trigger_kind: string }[] };
    for (const w of workflows) process.stdout.write(`${String(w.id).padStart(8)}  ${w.name.padEnd(20)} ${w.status.padEnd(10)} ${w.trigger_kind.padEnd(9)} ${w.runid}\n`);
  });
  workflow.command('show <id>').action(async (id: string) => print(await call('GET', `/rms/workflows/${id}`)));
  workflow
    .command('start <name>')
    .description('start a workflow by hand')
    .option('-p, --param <key=value>', 'a parameter (repeatable)', collect, [])
    .option('--priority <n>')
    .option('-r, --reason <why>', 'recorded with who started it ("manual start" if not given)')
    .option('--wait', 'follow it to its end with a progress bar of jobs done; exit 1 unless it ends SUCCESS')
    .action(async (name: string, o: { param: string[]; priority?: string; reason?: string; wait?: boolean }) => {
      const started = (await call('POST', '/rms/workflows', { name, params: params(o.param), priority: o.priority === undefined ? undefined : Number(o.priority), reason: o.reason })) as { id: number; created: boolean; jobs: number };
      if (!o.wait) return print(started);
      process.stdout.write(`workflow ${started.id} (${name}) ${started.created ? 'started' : 'was started before'}: ${started.jobs} jobs\n`);
      await wait([started.id], `workflow ${started.id} (${name})`);
    });
  workflow
    .command('backfill <name>')
    .description('one workflow per day of a range')
    .requiredOption('--from <day>', 'the first day, YYYY-MM-DD (UTC)')
    .requiredOption('--to <day>', 'the last day, YYYY-MM-DD, included')
    .option('-r, --reason <why>', 'recorded with who started it')
    .option('--wait', 'follow its workflows to their end with a progress bar of jobs done; exit 1 unless all end SUCCESS')
    .action(async (name: string, o: { from: string; to: string; reason?: string; wait?: boolean }) => {
      const { workflows } = (await call('POST', '/rms/backfill', { name, from: o.from, to: o.to, reason: o.reason })) as { workflows: { id: number; jobs: number }[] };
      if (!o.wait) return print({ workflows });
      process.stdout.write(`backfill of ${name}, ${o.from} to ${o.to}: ${workflows.length} workflows, ${workflows.reduce((n, w) => n + w.jobs, 0)} jobs\n`);
      await wait(
        workflows.map((w) => w.id),
        `backfill of ${name}`,
      );
    });
  workflow
    .command('reprocess <id>')
    .description('run a finished workflow again under a new solution ID')
    .option('--failed-only', 'only what did not succeed')
    .requiredOption('-r, --reason <why>')
    .action(async (id: string, o: { failedOnly?: boolean; reason: string }) => print(await call('POST', `/rms/workflows/${id}/reprocess`, { failedOnly: o.failedOnly === true, reason: o.reason })));
  for (const action of ['pause', 'resume', 'cancel', 'resume-failed']) {
    workflow
      .command(`${action} <id>`)
      .requiredOption('-r, --reason <why>', 'recorded with who did it and when')
      .action(async (id: string, o: { reason: string }) => print(await call('POST', `/rms/workflows/${id}/${action}`, { reason: o.reason })));
  }

  const job = program.command('job').description('jobs: show, retry, cancel, change priority');
  job.command('show <id>').action(async (id: string) => print(await call('GET', `/rms/jobs/${id}`)));
  for (const action of ['retry', 'cancel']) {
    job.command(`${action} <id>`).requiredOption('-r, --reason <why>').action(async (id: string, o: { reason: string }) => print(await call('POST', `/rms/jobs/${id}/${action}`, { reason: o.reason })));
  }
  job
    .command('priority <id> <priority>')
    .requiredOption('-r, --reason <why>')
    .action(async (id: string, priority: string, o: { reason: string }) => print(await call('POST', `/rms/jobs/${id}/priority`, { priority: Number(priority), reason: o.reason })));

  const pool = program.command('pool').description('executor pools: list, drain, open');
  pool.command('list').action(async () => print(await call('GET', '/pfs/pools')));
  for (const action of ['drain', 'open']) {
    pool.command(`${action} <name>`).requiredOption('-r, --reason <why>').action(async (name: string, o: { reason: string }) => print(await call('POST', `/pfs/pools/${name}/${action}`, { reason: o.reason })));
  }
}
