import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../server/paths.js';
import { apiTokenFor, withToken } from './auth.js';

/** One line of the JSON log file `<log.dir>/dpc.log`. */
export interface LogLine {
  level: string;
  message: string;
  subsystem?: string;
  timestamp: string;
  [field: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Served {
  /** The console's base URL, ending in `/`, with the port the server really bound. */
  url: string;
  child: ChildProcess;
  /** What the server wrote to its JSON log file so far. */
  logLines(): LogLine[];
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited, however it ended. */
  exited: Promise<Exit>;
  /** `fetch` as an operator: with the API token of a user made for it at the first call. */
  api: typeof fetch;
  /** Sends `signal` (SIGTERM unless told) and resolves with how the process ended. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
}

const children = new Set<ChildProcess>();
const CONSOLE_AT = /^console at (http:\/\/\S+\/)$/;

/**
 * The environment of a child DPC process: this process's, without any DPC_* variable of
 * its own (so that a developer's shell cannot change what a test sees), plus `env`.
 */
export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DPC_')));
  return { ...base, ...env };
}

/** Starts `node --import tsx <script> <args>` in the project root and tracks it for killChildren(); `stdin`: a pipe to write to. */
export function spawnTs(script: string, args: string[], env: Record<string, string>, options: { stdin?: boolean } = {}): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: projectRoot,
    env: childEnv(env),
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Starts `dpc <args>` from source. */
export function spawnCli(args: string[], env: Record<string, string>, options: { stdin?: boolean } = {}): ChildProcess {
  return spawnTs('server/cli.ts', args, env, options);
}

function exitOf(child: ChildProcess): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
}

/** Reads the JSON lines of a log file; a line still being written is left out. */
export function readLog(file: string): LogLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line) => {
      try {
        return line.trim() ? [JSON.parse(line) as LogLine] : [];
      } catch {
        return [];
      }
    });
}

/**
 * Spawns `dpc serve` with `env` (which must name DPC_LOG__DIR, as testEnv's does) and
 * resolves once it logged `console at http://host:port/`, in its log file or on stdout.
 * Rejects with its stderr if it exits first or is not up within `timeoutMs`.
 */
export async function serveDpc(env: Record<string, string>, options: { timeoutMs?: number; args?: string[] } = {}): Promise<Served> {
  const logDir = env.DPC_LOG__DIR;
  if (!logDir) throw new Error('serveDpc needs DPC_LOG__DIR in env');
  const logFile = join(logDir, 'dpc.log');
  // An earlier server of the same test may have written to the same file: skip its lines.
  const earlier = readLog(logFile).length;
  const child = spawnCli([...(options.args ?? []), 'serve'], env);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  // 'close', not 'exit': by then its output is read to the end.
  const exited = new Promise<Exit>((done) => child.once('close', (code, signal) => done({ code, signal })));
  let gone: Exit | undefined;
  void exited.then((e) => (gone = e));

  const logLines = () => readLog(logFile).slice(earlier);
  const fromLog = () => logLines().map((l) => CONSOLE_AT.exec(l.message)?.[1]).find(Boolean);
  const fromStdout = () => /console at (http:\/\/\S+\/)/.exec(stdout)?.[1];

  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let url: string | undefined;
  while (!(url = fromLog() ?? fromStdout())) {
    if (gone) throw new Error(`dpc serve exited (${gone.code ?? gone.signal}) before it listened: ${stderr.trim() || stdout.trim()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`dpc serve did not listen within ${options.timeoutMs ?? 30_000} ms: ${stderr.trim() || stdout.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  let token: Promise<string> | undefined;
  return {
    url,
    child,
    async api(input, init) {
      token ??= apiTokenFor(env);
      return withToken(await token)(input, init);
    },
    logLines,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    async stop(signal = 'SIGTERM') {
      if (!gone) child.kill(signal);
      return exited;
    },
  };
}

export interface CliResult extends Exit {
  stdout: string;
  stderr: string;
}

/** Runs one `dpc` command to its end. */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<CliResult> {
  return runTs('server/cli.ts', args, env, timeoutMs);
}

/** Runs a TypeScript script of the project to its end (killed after `timeoutMs`). */
export async function runTs(script: string, args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<CliResult> {
  const child = spawnTs(script, args, env);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  // 'close', not 'exit': it comes once the pipes are read to their end.
  const closed = new Promise<Exit>((done) => child.once('close', (code, signal) => done({ code, signal })));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exit = await closed;
  clearTimeout(timer);
  return { ...exit, stdout, stderr };
}

/** Kills every child a test started that is still running: call it in afterEach. */
export async function killChildren(): Promise<void> {
  await Promise.all(
    [...children].map((child) => {
      const exited = exitOf(child);
      child.kill('SIGKILL');
      return exited;
    }),
  );
}

/** Waits until `check` holds, polling. */
export async function until(check: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
