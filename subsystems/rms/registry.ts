import type { Clock } from '../../core/clock.js';
import { isUniqueViolation, type Db } from '../../core/db.js';
import { insertedId } from '../../core/query.js';
import { checkDescriptor, type CheckedDescriptor, type WorkflowDescriptor } from './descriptor.js';
import { rmsErrors } from './errors.js';
import { insertDescriptor, listDescriptorVersions, selectDescriptorByHash, selectLatestVersion } from './sql/descriptors.js';

/** A workflow descriptor as the console's Workflow Descriptor table shows it. */
export interface DescriptorSummary {
  name: string;
  description: string | null;
  output: string;
  priority: number;
  /** The version this process runs, and every version recorded, newest first. */
  version: number;
  versions: { version: number; descid: number; created: number }[];
  steps: number;
  triggers: ({ kind: 'cron'; cronName: string; schedule: string; params: Record<string, unknown>; next: number | null } | { kind: 'data'; dmtype: string; timeFrom: string | null; timeTo: string | null })[];
}

export interface Registered extends CheckedDescriptor {
  /** The rms_descriptor row of this version. */
  descid: number;
  version: number;
}

/**
 * The workflow descriptors of this process, each versioned in rms_descriptor: a changed
 * descriptor gets the next version, an unchanged one keeps its own, and workflows already
 * created keep the version they were created with.
 */
export class Registry {
  private readonly byName = new Map<string, Registered>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly hasTask: (name: string) => boolean,
  ) {}

  /** Checks a descriptor and records its version; throws DPC_RMS_DESCRIPTOR or DPC_RMS_CYCLE. */
  async register(descriptor: WorkflowDescriptor): Promise<Registered> {
    const checked = checkDescriptor(descriptor, this.hasTask);
    const { name } = checked.descriptor;
    if (this.byName.has(name) && this.byName.get(name)?.hash !== checked.hash) {
      throw rmsErrors.descriptor(name, undefined, 'another descriptor with this name was registered in this process');
    }
    const registered = { ...checked, ...(await this.version(name, checked)) };
    this.byName.set(name, registered);
    return registered;
  }

  private async version(name: string, checked: CheckedDescriptor): Promise<{ descid: number; version: number }> {
    for (let attempt = 0; ; attempt++) {
      const [found] = (await selectDescriptorByHash(this.db.knex, { name, hash: checked.hash })) as { id: number; version: number }[];
      if (found) return { descid: Number(found.id), version: Number(found.version) };
      const [latest] = (await selectLatestVersion(this.db.knex, { name })) as { version: number | null }[];
      const version = Number(latest?.version ?? 0) + 1;
      try {
        const id = insertedId(await insertDescriptor(this.db.knex, { name, version, hash: checked.hash, descriptor: checked.stored, created: this.clock.now() }));
        return { descid: id, version };
      } catch (err) {
        // Another process registered a version at the same moment: read again.
        if (!isUniqueViolation(err) || attempt >= 3) throw err;
      }
    }
  }

  get(name: string): Registered {
    const r = this.byName.get(name);
    if (!r) throw rmsErrors.unknownDescriptor(name);
    return r;
  }

  all(): Registered[] {
    return [...this.byName.values()];
  }

  /** The descriptors of this process by name, with their versions and triggers; `next` tells a cron trigger's next firing. */
  async summaries(next: (cronName: string) => number | null): Promise<DescriptorSummary[]> {
    const all = this.all().sort((a, b) => a.descriptor.name.localeCompare(b.descriptor.name));
    const versions = new Map<string, DescriptorSummary['versions']>();
    if (all.length > 0) {
      for (const r of (await listDescriptorVersions(this.db.knex, { names: all.map((a) => a.descriptor.name) })) as { id: number; name: string; version: number; created: number }[]) {
        versions.set(r.name, [...(versions.get(r.name) ?? []), { version: Number(r.version), descid: Number(r.id), created: Number(r.created) }]);
      }
    }
    return all.map((r) => {
      const d = r.descriptor;
      return {
        name: d.name,
        description: d.description ?? null,
        output: d.output,
        priority: d.priority ?? 0,
        version: r.version,
        versions: versions.get(d.name) ?? [],
        steps: d.steps.length,
        // Named as CronTriggers names them: `<workflow>#<n>`, the n-th trigger of the descriptor.
        triggers: (d.triggers ?? []).map((t, i) =>
          t.kind === 'cron'
            ? { kind: 'cron' as const, cronName: `${d.name}#${i + 1}`, schedule: t.schedule, params: t.params ?? {}, next: next(`${d.name}#${i + 1}`) }
            : { kind: 'data' as const, dmtype: t.dmtype, timeFrom: t.timeFrom ?? null, timeTo: t.timeTo ?? null },
        ),
      };
    });
  }
}
