import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeDir } from '../../../core/files.js';
import { readUsage, runjobPath } from '../runjob.js';
import type { JobSpec, TaskType } from '../tasks.js';

export interface ProgramRun {
  ok: boolean;
  reason?: string;
  result?: string;
  wallMs: number;
  cpuMs?: number;
  peakMemMb?: number;
}

/** After SIGTERM, a program has this long to end before SIGKILL. */
const KILL_GRACE_MS = 5000;

/** The reason of an abort that must end the program at once: SIGKILL, no SIGTERM first (its process lost its job leases). */
export class StopAtOnce extends Error {}

/**
 * Runs an external program for a job (ARCHITECTURE §7): a job-spec file in its output
 * directory is its last argument; what it prints goes to the job's log; its exit code and
 * the outputs it declares judge it. It runs under dpc-runjob, which records its CPU time and
 * peak memory exactly, in a process group of its own so a timeout stops all it started.
 */
export async function runProgram(
  type: Extract<TaskType, { kind: 'program' }>,
  spec: JobSpec,
  /** Takes what the program prints on stdout and stderr: the job's log. */
  write: (text: string) => void,
  signal: AbortSignal,
): Promise<ProgramRun> {
  makeDir(spec.outputDir);
  const specFile = join(spec.outputDir, 'job-spec.json');
  const usageFile = join(spec.outputDir, '.usage.json');
  await writeFile(specFile, `${JSON.stringify(spec, null, 2)}\n`);
  await rm(usageFile, { force: true });
  const [program, ...args] = type.command;
  const started = Date.now();
  const child = spawn(runjobPath, [usageFile, program, ...args, specFile], {
    cwd: spec.outputDir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DPC_JOB_SPEC: specFile, DPC_JOB_ID: String(spec.jobid) },
  });
  child.stdout.setEncoding('utf8').on('data', write);
  child.stderr.setEncoding('utf8').on('data', write);
  let stopped: string | undefined;
  let killer: NodeJS.Timeout | undefined;
  const stop = () => {
    stopped = signal.reason instanceof Error ? signal.reason.message : 'stopped';
    try {
      process.kill(-child.pid!, signal.reason instanceof StopAtOnce ? 'SIGKILL' : 'SIGTERM');
    } catch {
      return;
    }
    killer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, KILL_GRACE_MS);
  };
  if (signal.aborted) stop();
  else signal.addEventListener('abort', stop, { once: true });
  const exit = await new Promise<{ code: number | null; error?: Error }>((done) => {
    child.once('error', (error) => done({ code: null, error }));
    child.once('close', (code) => done({ code }));
  });
  clearTimeout(killer);
  signal.removeEventListener('abort', stop);
  const wallMs = Date.now() - started;
  if (exit.error) return { ok: false, reason: `cannot start ${runjobPath}: ${exit.error.message}`, wallMs };
  const usage = await readUsage(usageFile);
  const measured = usage ? { cpuMs: usage.userMs + usage.systemMs, peakMemMb: Math.ceil(usage.maxRssKb / 1024) } : {};
  if (stopped) return { ok: false, reason: stopped, wallMs, ...measured };
  if (usage?.signal) return { ok: false, reason: `${program} was killed by ${usage.signal}`, wallMs, ...measured };
  const code = usage?.exitCode ?? exit.code;
  if (code !== 0) return { ok: false, reason: `${program} exited with code ${code}`, wallMs, ...measured };
  const missing = (type.outputs ?? []).filter((o) => !existsSync(join(spec.outputDir, o)));
  if (missing.length > 0) return { ok: false, reason: `${program} exited 0 but did not write ${missing.join(', ')}`, wallMs, ...measured };
  return { ok: true, result: JSON.stringify({ outputs: type.outputs ?? [] }), wallMs, ...measured };
}
