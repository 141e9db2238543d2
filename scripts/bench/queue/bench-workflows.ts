import type { TaskType } from '../../../subsystems/pfs/index.js';
import type { WorkflowDescriptor } from '../../../subsystems/rms/index.js';

const tasks = new URL('./bench-tasks.js', import.meta.url).href;

export const taskTypes: TaskType[] = [
  { name: 'bench.noop', kind: 'function', module: tasks, export: 'noop' },
  { name: 'bench.noopLog', kind: 'function', module: tasks, export: 'noopLog' },
];

const fanOut = (params: Record<string, unknown>) => Array.from({ length: Number(params.jobs ?? 0) }, (_, i) => ({ i }));

/** One step of `jobs` no-op jobs: the queue's whole path, with nothing to compute. */
export const workflows: WorkflowDescriptor[] = [
  { name: 'bench', output: 'BenchSolution', steps: [{ name: 'noop', tasktype: 'bench.noop', jobs: fanOut }] },
  { name: 'benchLog', output: 'BenchSolution', steps: [{ name: 'noop', tasktype: 'bench.noopLog', jobs: fanOut }] },
];
