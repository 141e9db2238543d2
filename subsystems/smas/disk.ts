import { existsSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'winston';
import { messageOf } from '../../core/errors.js';
import type { Alerts } from '../ems/index.js';

/** The code of the alert a disk low on room raises (ems_alert.code). */
export const DISK_LOW = 'DPC_SMAS_DISK_LOW';

/** A disk counts as having room again only this far above its threshold, so one that hovers at it does not flap. */
export const RECOVERY_MARGIN = 1.1;

export interface DiskSpace {
  freeMb: number;
  totalMb: number;
}

/**
 * Free and total space of the filesystem holding `path`, MiB (what an unprivileged writer
 * may use). A directory not made yet (the job log store before the first job) is on the
 * disk of its nearest parent that exists.
 */
export function diskSpace(path: string): DiskSpace {
  let at = resolve(path);
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  const fs = statfsSync(at);
  return { freeMb: (fs.bavail * fs.bsize) / 2 ** 20, totalMb: (fs.blocks * fs.bsize) / 2 ** 20 };
}

export interface DiskThresholds {
  /** Less free than this is low; 0: no such threshold. */
  minFreeMb: number;
  /** Less than this share free is low; 0: no such threshold. */
  minFreePercent: number;
}

/** Whether a disk is low: below a threshold, or (when it was low) not yet the recovery margin above it. */
export function isLow(space: DiskSpace, t: DiskThresholds, wasLow: boolean): boolean {
  const margin = wasLow ? RECOVERY_MARGIN : 1;
  const percent = space.totalMb > 0 ? (100 * space.freeMb) / space.totalMb : 100;
  return (t.minFreeMb > 0 && space.freeMb < t.minFreeMb * margin) || (t.minFreePercent > 0 && percent < t.minFreePercent * margin);
}

/** What the disk watch needs of EMS's alerts. */
export type DiskAlerts = Pick<Alerts, 'raise' | 'clear' | 'isOpen'>;

/**
 * Watches the free space of the disks DPC writes (the DSS root, the job log store) on this
 * host and raises one EMS alert when a disk goes low, clears it when the disk has room
 * again: at each crossing, never at each look. Whether a disk's alert is open is read from
 * EMS when the watch starts, so a restart neither raises it again nor misses its clearing.
 */
export class DiskWatch {
  private readonly low = new Map<string, boolean>();

  constructor(
    private readonly host: string,
    private readonly thresholds: DiskThresholds,
    private readonly alerts: DiskAlerts,
    private readonly log: Logger,
  ) {}

  /** The alert's name for a disk of this host: `disk.low <host> <area>`. */
  dedupe(area: string): string {
    return `disk.low ${this.host} ${area}`.slice(0, 200);
  }

  /** Judges one reading of a disk; raises or clears its alert when it crossed its threshold. */
  async check(area: string, path: string, space: DiskSpace): Promise<void> {
    if (this.thresholds.minFreeMb <= 0 && this.thresholds.minFreePercent <= 0) return;
    const dedupe = this.dedupe(area);
    let was = this.low.get(area);
    if (was === undefined) was = await this.alerts.isOpen(dedupe);
    const now = isLow(space, this.thresholds, was);
    if (now === was) {
      this.low.set(area, now);
      return;
    }
    const free = `${Math.floor(space.freeMb)} MiB (${space.totalMb > 0 ? ((100 * space.freeMb) / space.totalMb).toFixed(1) : '?'} %) free`;
    const limits = [
      this.thresholds.minFreeMb > 0 ? `smas.monitor.diskMinFreeMb ${this.thresholds.minFreeMb}` : '',
      this.thresholds.minFreePercent > 0 ? `smas.monitor.diskMinFreePercent ${this.thresholds.minFreePercent}` : '',
    ]
      .filter(Boolean)
      .join(', ');
    if (now) {
      await this.alerts.raise({ severity: 'ERROR', code: DISK_LOW, subsystem: 'smas', message: `disk of ${area} (${path}) on ${this.host} is low: ${free} (${limits})`, dedupe });
    } else {
      await this.alerts.clear({ dedupe, code: DISK_LOW, subsystem: 'smas', message: `disk of ${area} (${path}) on ${this.host} has room again: ${free}` });
    }
    // Set once the alert is recorded: a failed write is tried again at the next look.
    this.low.set(area, now);
  }

  /** Reads and judges a disk; one that cannot be read is logged and left for the next look. */
  async look(area: string, path: string): Promise<DiskSpace | undefined> {
    let space: DiskSpace;
    try {
      space = diskSpace(path);
    } catch (err) {
      this.log.debug(`monitor: cannot read the free space of ${path}`, { area, error: messageOf(err) });
      return undefined;
    }
    await this.check(area, path, space);
    return space;
  }
}
