import type { WorkflowDescriptor } from '../../subsystems/rms/index.js';
import type { TaskType } from '../../subsystems/pfs/index.js';

const tasks = new URL('./tasks.js', import.meta.url).href;

/** The demo's task types: TypeScript functions in the worker-thread pool. */
export const taskTypes: TaskType[] = [
  { name: 'demo.ingest', kind: 'function', module: tasks, export: 'ingest' },
  { name: 'demo.calibrate', kind: 'function', module: tasks, export: 'calibrate' },
  { name: 'demo.summarise', kind: 'function', module: tasks, export: 'summarise' },
];

/**
 * The demo workflow that runs on a fresh `npm start`: one day of data in three steps,
 * 240 calibration jobs (one per six minutes of the day) between an ingest and a summary;
 * daily at 02:00 UTC, or by hand.
 */
export const workflows: WorkflowDescriptor[] = [
  {
    name: 'demo',
    description: 'a day of synthetic data: ingest, calibrate each 6-minute interval, summarise',
    output: 'DemoSolution',
    triggers: [{ kind: 'cron', schedule: '0 2 * * *' }],
    steps: [
      { name: 'ingest', tasktype: 'demo.ingest', retry: { attempts: 3, backoffMs: 1000 }, timeoutMs: 60_000 },
      { name: 'calibrate', tasktype: 'demo.calibrate', after: ['ingest'], jobs: Array.from({ length: 240 }, (_, interval) => ({ interval })), retry: { attempts: 3, backoffMs: 1000 }, timeoutMs: 60_000 },
      { name: 'summarise', tasktype: 'demo.summarise', after: ['calibrate'], timeoutMs: 60_000 },
    ],
  },
];
