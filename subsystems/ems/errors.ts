import { defineError } from '../../core/errors.js';

export const emsErrors = {
  unknownTopic: defineError('DPC_EMS_TOPIC', 400, (topic: string) => `there is no event topic "${topic}"`),
  badLogEntry: defineError('DPC_EMS_LOG_ENTRY', 400, (problem: string) => `mission log entry rejected: ${problem}`),
};
