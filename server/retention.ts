import type { Logger } from 'winston';
import type { Config } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { messageOf } from '../core/errors.js';
import type { DssService } from '../subsystems/dss/index.js';
import type { EmsService } from '../subsystems/ems/index.js';
import type { PfsService } from '../subsystems/pfs/index.js';
import type { RmsService } from '../subsystems/rms/index.js';
import type { SmasService } from '../subsystems/smas/index.js';

export const RETENTION_LEASE = 'retention';

/**
 * Retention across subsystems, run by the one process holding its lease: job logs first
 * (their rows reference the jobs), then finished jobs, then delivered events; each
 * subsystem archives and purges its own tables in small batches, into DSS's archive.
 */
export function startRetention(
  config: Config,
  s: { smas: SmasService; dss: DssService; pfs: PfsService; rms: RmsService; ems: EmsService },
  clock: Clock,
  log: Logger,
): { stop(): Promise<void> } {
  const { retention } = config.rms;
  if (!retention.enabled) return { stop: async () => undefined };
  let running: Promise<void> | undefined;
  const run = () => {
    if (running || !s.smas.leases.isHeld(RETENTION_LEASE)) return;
    const before = clock.now() - retention.days * 86_400_000;
    const dir = s.dss.area('archive');
    running = (async () => {
      const logs = await s.pfs.purge(dir, before);
      const jobs = await s.rms.purge(dir, before);
      const events = await s.ems.purge(dir, before);
      if (logs + jobs + events > 0) log.info(`retention: archived and purged ${jobs} job(s), ${logs} job log(s), ${events} event(s) older than ${retention.days} days`, { subsystem: 'server' });
    })()
      .catch((err: unknown) => void log.warn(`retention failed: ${messageOf(err)}`, { subsystem: 'server' }))
      .finally(() => (running = undefined));
  };
  s.smas.leases.hold(RETENTION_LEASE, { onAcquired: () => run() });
  const timer = setInterval(run, retention.intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
