import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'winston';
import type { Clock } from '../../core/clock.js';
import { createApp, listen } from '../../server/http.js';
import { startDpc, type Dpc } from '../../server/lifecycle.js';
import { closeLogger, createLogger } from '../../server/logger.js';
import { testEnv, type TestEnv } from './env.js';

/** A clock a test can move forward: the system's, plus what the test added. */
export interface MovableClock extends Clock {
  advance(ms: number): void;
}

export function movableClock(): MovableClock {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (ms) => void (offset += ms) };
}

export interface App {
  t: TestEnv;
  dpc: Dpc;
  server: Server;
  /** http://127.0.0.1:port, with http.basePath if the test set one. */
  base: string;
  /** http://127.0.0.1:port */
  origin: string;
  log: Logger;
  close(): Promise<void>;
}

/** A DPC of this process (its own database) with its HTTP app on a free port; `descriptors`: rms.descriptors. */
export async function startApp(env: Record<string, string> = {}, options: { clock?: MovableClock; descriptors?: string[] } = {}): Promise<App> {
  const t = await testEnv(env);
  if (options.descriptors) t.config.rms.descriptors = options.descriptors;
  const log = createLogger(t.config.log);
  const dpc = await startDpc(t.config, log, options.clock);
  const server = await listen(createApp(dpc), '127.0.0.1', 0);
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    t,
    dpc,
    server,
    origin,
    base: origin + t.config.http.basePath,
    log,
    async close() {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
      await dpc.stop();
      await closeLogger(log);
      await t.cleanup();
    },
  };
}
