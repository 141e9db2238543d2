import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** CPU time per job spent during a run, µs: what each side costs, not only how fast it goes. */
export interface CpuPerJob {
  /** This process, all its threads (the queue's client, its worker threads, its garbage collector). */
  process: number;
  /** Every process of the PostgreSQL server on this machine; undefined where /proc does not show them. */
  postgres: number | undefined;
}

let ticksPerSecond: number | undefined;

/** utime + stime + cutime + cstime of every process named postgres (a backend that exited counts in its parent's), µs. */
function postgresCpuUs(): number | undefined {
  try {
    ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;
    let ticks = 0;
    let seen = false;
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        continue; // it ended meanwhile
      }
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== 'postgres') continue;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      seen = true;
    }
    return seen ? (ticks * 1e6) / ticksPerSecond : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts measuring; the function it returns ends the measure. Taken outside the timed run:
 * reading /proc takes a few milliseconds. On a shared server, other databases' work counts too.
 */
export function startCpuMeter(): (jobs: number) => CpuPerJob {
  const process0 = process.cpuUsage();
  const postgres0 = postgresCpuUs();
  return (jobs) => {
    const p = process.cpuUsage(process0);
    const postgres1 = postgresCpuUs();
    return {
      process: Math.round((p.user + p.system) / jobs),
      postgres: postgres0 === undefined || postgres1 === undefined ? undefined : Math.round((postgres1 - postgres0) / jobs),
    };
  };
}
