import { accessSync, constants, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { projectRootOf } from '../../core/files.js';

/*
 * The resource-usage helper dpc-runjob (native/runjob/runjob.c, built by node-gyp at
 * npm install): Node cannot read a child's rusage, so the local executor runs an external
 * program as `dpc-runjob <usage-file> <program> [args...]` and reads the usage file after.
 */

/** Absolute path of the helper executable. */
export const runjobPath: string = join(projectRootOf(import.meta.url), 'build', 'Release', 'dpc-runjob');

/** What the helper records about one program run. */
export interface ProgramUsage {
  /** The program's exit code; null when a signal ended it. */
  exitCode: number | null;
  /** The name of the signal that ended it (e.g. "SIGKILL", or "SIG34" for one without a name); null when it exited. */
  signal: string | null;
  /** User CPU time of the program and the descendants it waited for, in milliseconds. */
  userMs: number;
  /** System CPU time, likewise, in milliseconds. */
  systemMs: number;
  /** Peak resident set size of the largest of those processes, in KiB. */
  maxRssKb: number;
}

function isUsage(v: unknown): v is ProgramUsage {
  if (typeof v !== 'object' || v === null) return false;
  const u = v as Record<string, unknown>;
  const count = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  return (
    (u.exitCode === null || (Number.isInteger(u.exitCode) && count(u.exitCode))) &&
    (u.signal === null || typeof u.signal === 'string') &&
    (u.exitCode === null) !== (u.signal === null) &&
    count(u.userMs) &&
    count(u.systemMs) &&
    count(u.maxRssKb)
  );
}

/**
 * Reads the usage file the helper wrote. Undefined when there is none: the helper itself
 * was killed (or never started) before the program ended. Throws, naming the file, when
 * the content is not a usage record.
 */
export async function readUsage(file: string): Promise<ProgramUsage | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`malformed resource-usage file ${file}: ${(err as Error).message}`);
  }
  if (!isUsage(parsed)) throw new Error(`malformed resource-usage file ${file}: ${text.trim().slice(0, 200)}`);
  const { exitCode, signal, userMs, systemMs, maxRssKb } = parsed;
  return { exitCode, signal, userMs, systemMs, maxRssKb };
}

/** Throws an operator-readable error when the helper has not been built. */
export function assertRunjobBuilt(): void {
  try {
    accessSync(runjobPath, constants.X_OK);
    if (!statSync(runjobPath).isFile()) throw new Error('not a file');
  } catch {
    throw new Error('the resource-usage helper build/Release/dpc-runjob is missing: run npm install (it is built by node-gyp)');
  }
}
