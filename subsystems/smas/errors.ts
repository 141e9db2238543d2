import { defineError } from '../../core/errors.js';

export const smasErrors = {
  notReady: defineError('DPC_SMAS_NOT_READY', 503, (reason: string) => `not ready: ${reason}`),
};
