import { defineError } from '../../core/errors.js';

export const pfsErrors = {
  taskType: defineError('DPC_PFS_TASK_TYPE', 500, (name: string, problem: string) => `task type "${name}": ${problem}`, { fixConfiguration: true }),
  unknownPool: defineError('DPC_PFS_POOL', 400, (name: string) => `pool name ${JSON.stringify(name)} must be 1 to 32 letters, digits, _ . or -`),
  segmentMissing: defineError('DPC_PFS_LOG_SEGMENT', 500, (segment: string, dir: string) => `job log segment ${segment} is missing or short in ${dir}: is pfs.jobLog.dir the directory every DPC process shares?`),
  logNotFound: defineError('DPC_PFS_LOG', 404, (jobid: number, attempt: number) => `job ${jobid} has no log for attempt ${attempt}`),
  logQuery: defineError('DPC_PFS_LOG_QUERY', 400, (what: string) => `job log: ${what}`),
  reasonRequired: defineError('DPC_PFS_REASON', 400, (action: string) => `${action} needs a reason: it is recorded with who did it and when`),
};
