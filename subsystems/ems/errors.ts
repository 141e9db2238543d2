import { defineError } from '../../core/errors.js';

export const emsErrors = {
  badLogEntry: defineError('DPC_EMS_LOG_ENTRY', 400, (problem: string) => `mission log entry rejected: ${problem}`),
  badAlert: defineError('DPC_EMS_ALERT', 400, (problem: string) => `alert rejected: ${problem}`),
};
