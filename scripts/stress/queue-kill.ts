/**
 * The queue's kill tests, again and again under a parallel CPU load (issue 12): a failure
 * that shows once in several runs on a loaded machine is caught with its jobs' reasons.
 * Each run is one `vitest run` of the test files, in a process group of its own; the load is
 * busy-loop processes started here. Both are ended by their ids when done, never by name.
 *
 *   npx tsx scripts/stress/queue-kill.ts [--runs 20] [--db postgresql|sqlite] [--load N]
 *     [--run-timeout-s 1800] [--keep DIR] [test files…]
 *
 * Without files: test/rms/kill.test.ts, test/rms/two-processes.test.ts and any
 * test/rms/*partition*.test.ts or *stall*.test.ts. `--load` defaults to the number of CPUs.
 * Each run's whole output is kept under DIR (a new temporary folder unless told). On a
 * failure it prints each failing test and the lines the tests print for the jobs that did not
 * succeed (test/helpers/jobs.ts: `job <id> <status> handbacks=… reason=…`); at the end, the
 * runs, passes and failures, and the reasons tallied.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { projectRoot as root } from '../../server/paths.js';
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '20' },
    db: { type: 'string', default: 'postgresql' },
    load: { type: 'string', default: String(availableParallelism()) },
    'run-timeout-s': { type: 'string', default: '1800' },
    keep: { type: 'string' },
  },
});

function whole(name: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`queue-kill: --${name} must be a whole number of at least ${min}; got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return n;
}
const runs = whole('runs', values.runs, 1);
const load = whole('load', values.load, 0);
const runTimeoutMs = whole('run-timeout-s', values['run-timeout-s'], 1) * 1000;
if (values.db !== 'postgresql' && values.db !== 'sqlite') {
  process.stderr.write(`queue-kill: --db must be postgresql or sqlite; got ${JSON.stringify(values.db)}\n`);
  process.exit(2);
}
const files = positionals.length > 0 ? positionals : defaultFiles();
for (const f of files) {
  if (!existsSync(resolve(root, f))) {
    process.stderr.write(`queue-kill: no test file ${f}\n`);
    process.exit(2);
  }
}
const keep = values.keep ?? mkdtempSync(join(tmpdir(), 'dpc-queue-kill-'));
mkdirSync(keep, { recursive: true });

function defaultFiles(): string[] {
  const more = readdirSync(join(root, 'test/rms'))
    .filter((f) => /(partition|stall).*\.test\.ts$/.test(f))
    .map((f) => `test/rms/${f}`);
  return ['test/rms/kill.test.ts', 'test/rms/two-processes.test.ts', ...more.sort()];
}

/** What this script started and must end: the busy loops, and the process group of the run under way. */
const loaders: ChildProcess[] = [];
let current: ChildProcess | undefined;

function endAll(): void {
  for (const l of loaders) if (l.exitCode === null && l.signalCode === null) l.kill('SIGKILL');
  // The run's group: vitest, its forks and the servers the tests started.
  if (current?.pid) killGroup(current.pid);
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

interface Failure {
  test: string;
  message: string;
}

interface RunResult {
  ok: boolean;
  seconds: number;
  failures: Failure[];
  /** Lines `job <id> <status> handbacks=… reason=…` the tests printed, by the test that printed them. */
  jobs: Map<string, string[]>;
  /** Why the run failed without a failing test (a crash, a timeout). */
  other?: string;
  log: string;
}

async function runOnce(n: number): Promise<RunResult> {
  const log = join(keep, `run-${n}.log`);
  const report = join(keep, `run-${n}.json`);
  const began = Date.now();
  const child = spawn(process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', ...files, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`], {
    cwd: root,
    env: { ...process.env, DPC_TEST_DB: values.db },
    stdio: ['ignore', 'pipe', 'pipe'],
    // A group of its own, so that a run cut short ends with everything it started.
    detached: true,
  });
  current = child;
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (output += s));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid!);
  }, runTimeoutMs);
  const code = await new Promise<number | null>((done) => child.once('close', (c) => done(c)));
  clearTimeout(timer);
  // Whatever of the run is still there (a server a crashed test left) goes with its group,
  // at once: the group's id is not free for another process while any of it lives.
  killGroup(child.pid!);
  current = undefined;
  writeFileSync(log, output);

  const failures: Failure[] = [];
  if (existsSync(report) && !timedOut) {
    const json = JSON.parse(readFileSync(report, 'utf8')) as {
      testResults: { name: string; message: string; assertionResults: { ancestorTitles: string[]; title: string; status: string; failureMessages: string[] }[] }[];
    };
    for (const file of json.testResults) {
      const name = file.name.startsWith(root) ? file.name.slice(root.length + 1) : file.name;
      for (const a of file.assertionResults.filter((r) => r.status === 'failed')) {
        failures.push({ test: [name, ...a.ancestorTitles, a.title].join(' > '), message: firstLine(a.failureMessages[0] ?? '') });
      }
      if (file.assertionResults.length === 0 && file.message) failures.push({ test: name, message: firstLine(file.message) });
    }
  }
  // vitest heads what a test printed with `stdout | <file> > <suite> > <test>`.
  const jobs = new Map<string, string[]>();
  let printedBy = '?';
  for (const line of output.split('\n')) {
    const head = /^std(?:out|err) \| (.*)$/.exec(line);
    if (head) printedBy = head[1];
    else if (/^job \d+ \S+ handbacks=/.test(line)) jobs.set(printedBy, [...new Set([...(jobs.get(printedBy) ?? []), line])]);
  }
  const ok = code === 0 && !timedOut && failures.length === 0;
  const other = ok || failures.length > 0 ? undefined : timedOut ? `timed out after ${runTimeoutMs / 1000} s` : `vitest exited ${code} without a failing test`;
  return { ok, seconds: (Date.now() - began) / 1000, failures, jobs, other, log };
}

function firstLine(text: string): string {
  return text.split('\n')[0].trim();
}

/** `job 12 FAILED handbacks=1 … reason=cancelled, or handed …` → `FAILED: cancelled, or handed …` */
function reasonOf(line: string): string {
  const status = line.split(' ')[2];
  const at = line.indexOf(' reason=');
  return `${status}: ${at < 0 ? '-' : line.slice(at + ' reason='.length)}`;
}

const results: RunResult[] = [];
function summary(): void {
  const passed = results.filter((r) => r.ok).length;
  console.log(`\nqueue-kill: ${results.length} runs, ${passed} passed, ${results.length - passed} failed (${values.db}, load ${load}; logs in ${keep})`);
  const tally = (keys: string[]) => {
    const counts = new Map<string, number>();
    for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
    return [...counts].sort((a, b) => b[1] - a[1]);
  };
  const failed = results.filter((r) => !r.ok);
  if (failed.length === 0) return;
  console.log('failing tests:');
  for (const [test, n] of tally(failed.flatMap((r) => [...r.failures.map((f) => f.test), ...(r.other ? [r.other] : [])]))) console.log(`  ${n}× ${test}`);
  console.log('job reasons (jobs that did not succeed, in the failed runs):');
  const reasons = tally(failed.flatMap((r) => [...r.jobs.values()].flat().map(reasonOf)));
  if (reasons.length === 0) console.log('  none printed');
  for (const [reason, n] of reasons) console.log(`  ${n}× ${reason}`);
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    endAll();
  });
}
process.once('exit', endAll);

for (let i = 0; i < load; i++) {
  loaders.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}
console.log(`queue-kill: ${runs} run(s) of ${files.join(' ')} on ${values.db}, under ${load} busy loop(s) (pids ${loaders.map((l) => l.pid).join(' ') || '-'})`);

for (let n = 1; n <= runs && !interrupted; n++) {
  const r = await runOnce(n);
  if (interrupted) break;
  results.push(r);
  console.log(`run ${n}/${runs}: ${r.ok ? 'PASS' : 'FAIL'} in ${r.seconds.toFixed(0)} s${r.ok ? '' : ` (log ${r.log})`}`);
  for (const f of r.failures) console.log(`  failed: ${f.test}\n    ${f.message}`);
  if (r.other) console.log(`  ${r.other}`);
  if (r.ok) continue;
  for (const [test, lines] of r.jobs) {
    console.log(`  jobs that did not succeed, printed by ${test}:`);
    for (const line of lines) console.log(`    ${line}`);
  }
}
endAll();
summary();
process.exitCode = interrupted ? 130 : results.every((r) => r.ok) ? 0 : 1;
