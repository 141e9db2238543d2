import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Config } from '../config/schema.js';
import { messageOf } from '../core/errors.js';
import { TaskTypeRegistry, type TaskType } from '../subsystems/pfs/index.js';
import { rmsErrors, type WorkflowDescriptor } from '../subsystems/rms/index.js';

/** The root the running code is in: the project when run from source, dist/ when built. */
const codeRoot = dirname(dirname(fileURLToPath(import.meta.url)));

export const DEMO_MODULE = 'pipelines/demo/index.js';

/**
 * Loads the modules that declare workflows and task types (rms.descriptors, and the demo
 * unless rms.demo is false). Each exports `workflows` and `taskTypes`; a module that
 * cannot be loaded, or exports something else, stops the start with a message naming it.
 */
export async function loadPipelines(config: Config): Promise<{ workflows: WorkflowDescriptor[]; tasks: TaskTypeRegistry }> {
  const modules = [...(config.rms.demo ? [DEMO_MODULE] : []), ...config.rms.descriptors];
  const tasks = new TaskTypeRegistry();
  const workflows: WorkflowDescriptor[] = [];
  for (const module of modules) {
    const url = pathToFileURL(isAbsolute(module) ? module : join(codeRoot, module)).href;
    let exports: Record<string, unknown>;
    try {
      exports = (await import(url)) as Record<string, unknown>;
    } catch (err) {
      throw rmsErrors.descriptorsModule(module, `cannot load it: ${messageOf(err)}`);
    }
    const { workflows: w = [], taskTypes: t = [] } = exports;
    if (!Array.isArray(w) || !Array.isArray(t)) throw rmsErrors.descriptorsModule(module, 'must export `workflows` and `taskTypes` as lists');
    for (const type of t as TaskType[]) tasks.register(type);
    workflows.push(...(w as WorkflowDescriptor[]));
  }
  return { workflows, tasks };
}
