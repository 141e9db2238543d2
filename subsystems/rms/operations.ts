import type { ActionDeps, Actor } from './actions.js';
import { BulkActions, type BulkResult } from './bulk.js';
import { Explain, type PoolFacts } from './explain.js';
import { grid, renderGraphSvg, workflowGraph, type Graph, type Grid } from './grid.js';
import { JobQuery } from './jobQuery.js';
import type { JobQueue } from './queue.js';
import type { ShareConfig } from './share.js';
import { FailureTriage } from './triage.js';

/**
 * What the console's Workflow Manager asks of run management beyond reads and single actions:
 * the job query and bulk actions on it, failure triage, why a job is not running, the grid
 * and a workflow's graph.
 */
export interface RmsOperations {
  jobs: JobQuery;
  bulk: BulkActions;
  triage: FailureTriage;
  explain: Explain;
  grid(name: string, o?: { n?: number; before?: number }): Promise<Grid>;
  graph(workflowid: number): Promise<Graph>;
  /** The graph drawn as SVG, for the workflow page. */
  svg(graph: Graph): string;
  /** An executor subsystem (PFS) tells run management what it knows of pools. */
  usePoolFacts(facts: PoolFacts): void;
}

export function createOperations(d: ActionDeps & { queue: JobQueue; share: ShareConfig; announce(who: Actor, result: BulkResult): void }): RmsOperations {
  const jobs = new JobQuery(d.db);
  const bulk = new BulkActions(d, jobs, d.announce);
  const explain = new Explain(d.db, d.clock, d.queue, d.share);
  return {
    jobs,
    bulk,
    triage: new FailureTriage(d.db, jobs, bulk),
    explain,
    grid: (name, o) => grid(d.db, name, o),
    graph: (workflowid) => workflowGraph(d.db, workflowid),
    svg: renderGraphSvg,
    usePoolFacts: (facts) => explain.usePoolFacts(facts),
  };
}
