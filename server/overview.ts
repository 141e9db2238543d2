import type { SubsystemName } from '../core/subsystem.js';
import type { PfsService } from '../subsystems/pfs/index.js';
import type { RmsService, WorkAtAGlance } from '../subsystems/rms/index.js';
import type { Dpc } from './lifecycle.js';

/** The Welcome page's "today at a glance", and its JSON twin GET /api/smas/overview. */
export interface Overview {
  work: WorkAtAGlance;
  coordinators: { up: number; total: number };
  pools: { open: number; total: number; drained: string[] };
  nodes: { up: number; total: number };
}

function service<S>(dpc: Dpc, name: SubsystemName): S {
  const s = dpc.subsystems.find((x) => x.name === name);
  if (!s) throw new Error(`no subsystem ${name} in this process`);
  return s.service as S;
}

/** Read from RMS's per-step counts and PFS's Node Monitor: a handful of indexed reads, whatever the number of jobs. */
export async function overview(dpc: Dpc, now: number): Promise<Overview> {
  const [work, monitor] = await Promise.all([service<RmsService>(dpc, 'rms').overview.today(now), service<PfsService>(dpc, 'pfs').nodeMonitor()]);
  const of = (kind: string) => monitor.rows.filter((r) => r.kind === kind);
  return {
    work,
    coordinators: { up: of('coordinator').filter((r) => r.status === 'UP').length, total: of('coordinator').length },
    pools: { open: monitor.pools.filter((p) => p.state === 'OPEN').length, total: monitor.pools.length, drained: monitor.pools.filter((p) => p.state === 'DRAINED').map((p) => p.name) },
    nodes: { up: of('node').filter((r) => r.status === 'UP').length, total: of('node').length },
  };
}
