import { defineError } from '../../core/errors.js';

export const pfsErrors = {
  taskType: defineError('DPC_PFS_TASK_TYPE', 500, (name: string, problem: string) => `task type "${name}": ${problem}`, { fixConfiguration: true }),
  unknownPool: defineError('DPC_PFS_POOL', 400, (name: string) => `pool name ${JSON.stringify(name)} must be 1 to 32 letters, digits, _ . or -`),
  reasonRequired: defineError('DPC_PFS_REASON', 400, (action: string) => `${action} needs a reason: it is recorded with who did it and when`),
};
