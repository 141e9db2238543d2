import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { projectRoot } from '../../server/paths.js';
import type { TestEnv } from './env.js';

/** One execution of a job, from the append-only file the kill-tasks fixture writes. */
export interface Run {
  jobid: number;
  pid: number;
  start: number;
  /** When it ended or was stopped; undefined: neither (cut short by a kill, or still running). */
  end?: number;
  how?: 'end' | 'stopped';
}

/** Every execution the file records, by job, in the order they started. */
export function readRuns(file: string): Map<number, Run[]> {
  const runs = new Map<number, Run[]>();
  if (!existsSync(file)) return runs;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(\d+) (\d+) (start|end|stopped) (\d+)$/.exec(line);
    if (!m) continue;
    const [jobid, pid, event, at] = [Number(m[1]), Number(m[2]), m[3], Number(m[4])];
    const list = runs.get(jobid) ?? [];
    if (event === 'start') list.push({ jobid, pid, start: at });
    else {
      const run = [...list].reverse().find((r) => r.pid === pid && r.end === undefined);
      if (run) Object.assign(run, { end: at, how: event });
    }
    runs.set(jobid, list);
  }
  return runs;
}

/**
 * Pairs of runs of one job that overlap in time. A run with neither an end nor a stop counts
 * as lasting until `until` (the end of the test), so that a run cannot drop out of the check.
 */
export function overlaps(runs: Map<number, Run[]>, until: number): [Run, Run][] {
  const out: [Run, Run][] = [];
  for (const list of runs.values()) {
    const sorted = [...list].sort((a, b) => a.start - b.start);
    for (let i = 1; i < sorted.length; i++) {
      for (let j = 0; j < i; j++) if (sorted[i].start < (sorted[j].end ?? until)) out.push([sorted[j], sorted[i]]);
    }
  }
  return out;
}

/** The environment of server `n` of a test: its database, a log directory of its own, `descriptors` loaded. */
export function serverEnv(t: TestEnv, n: number, descriptors: string, extra: Record<string, string> = {}): Record<string, string> {
  const configFile = join(t.dir, `config-${n}.json`);
  writeFileSync(configFile, JSON.stringify({ rms: { descriptors: [resolve(projectRoot, descriptors)], demo: false } }));
  const logDir = join(t.dir, `log-${n}`);
  mkdirSync(logDir, { recursive: true });
  return { ...t.env, DPC_CONFIG: configFile, DPC_LOG__DIR: logDir, ...extra };
}
