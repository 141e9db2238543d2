import type { Clock } from '../../core/clock.js';
import { isUniqueViolation, type Db } from '../../core/db.js';
import { insertedId } from '../../core/query.js';
import { checkDefinition, type CheckedDefinition, type WorkflowDefinition } from './definition.js';
import { rmsErrors } from './errors.js';
import { insertDefinition, selectDefinitionByHash, selectLatestVersion } from './sql/definitions.js';

export interface Registered extends CheckedDefinition {
  /** The rms_workflow_def row of this version. */
  defid: number;
  version: number;
}

/**
 * The workflow definitions of this process, each versioned in rms_workflow_def: a changed
 * definition gets the next version, an unchanged one keeps its own, and instances already
 * created keep the version they were created with.
 */
export class Registry {
  private readonly byName = new Map<string, Registered>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly hasTask: (name: string) => boolean,
  ) {}

  /** Checks a definition and records its version; throws DPC_RMS_DEFINITION or DPC_RMS_CYCLE. */
  async register(def: WorkflowDefinition): Promise<Registered> {
    const checked = checkDefinition(def, this.hasTask);
    const { name } = checked.def;
    if (this.byName.has(name) && this.byName.get(name)?.hash !== checked.hash) {
      throw rmsErrors.definition(name, undefined, 'another definition with this name was registered in this process');
    }
    const registered = { ...checked, ...(await this.version(name, checked)) };
    this.byName.set(name, registered);
    return registered;
  }

  private async version(name: string, checked: CheckedDefinition): Promise<{ defid: number; version: number }> {
    for (let attempt = 0; ; attempt++) {
      const [found] = (await selectDefinitionByHash(this.db.knex, { name, hash: checked.hash })) as { id: number; version: number }[];
      if (found) return { defid: Number(found.id), version: Number(found.version) };
      const [latest] = (await selectLatestVersion(this.db.knex, { name })) as { version: number | null }[];
      const version = Number(latest?.version ?? 0) + 1;
      try {
        const id = insertedId(await insertDefinition(this.db.knex, { name, version, hash: checked.hash, definition: checked.stored, created: this.clock.now() }));
        return { defid: id, version };
      } catch (err) {
        // Another process registered a version at the same moment: read again.
        if (!isUniqueViolation(err) || attempt >= 3) throw err;
      }
    }
  }

  get(name: string): Registered {
    const r = this.byName.get(name);
    if (!r) throw rmsErrors.unknownWorkflow(name);
    return r;
  }

  all(): Registered[] {
    return [...this.byName.values()];
  }
}
