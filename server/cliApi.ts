import type { Command } from 'commander';
import { coreErrors, DpcError, messageOf } from '../core/errors.js';

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
    .requiredOption('-r, --reason <why>', 'recorded with who started it')
    .action(async (name: string, o: { param: string[]; priority?: string; reason: string }) =>
      print(await call('POST', '/rms/workflows', { name, params: params(o.param), priority: o.priority === undefined ? undefined : Number(o.priority), reason: o.reason })),
    );
  workflow
    .command('backfill <name> <from> <to>')
    .description('one workflow per day, from and to as YYYY-MM-DD')
    .requiredOption('-r, --reason <why>')
    .action(async (name: string, from: string, to: string, o: { reason: string }) => print(await call('POST', '/rms/backfill', { name, from, to, reason: o.reason })));
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
