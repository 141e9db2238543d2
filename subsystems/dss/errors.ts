import { defineError } from '../../core/errors.js';

export const dssErrors = {
  storeUnwritable: defineError('DPC_DSS_STORE', 500, (dir: string, why: string) => `the file store directory ${dir} is not writable (${why}); set dss.root to a writable directory`, {
    fixConfiguration: true,
  }),
};
