import { Router } from 'express';
import type { SmasService } from './index.js';

/** GET /api/smas/subsystems: this process's database status and subsystem states. */
export function smasApi(processId: string, smas: SmasService): Router {
  const api = Router();
  api.get('/subsystems', async (_req, res) => {
    res.json({ process: processId, database: smas.db(), subsystems: smas.states() });
  });
  return api;
}
