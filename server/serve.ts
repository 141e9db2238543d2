import type { AddressInfo } from 'node:net';
import type { Config } from '../config/schema.js';
import { messageOf } from '../core/errors.js';
import { createApp, listen } from './http.js';
import { startDpc } from './lifecycle.js';
import { closeLogger, createLogger } from './logger.js';

/**
 * `dpc serve`: starts the DPC and its HTTP console, and stops both on SIGTERM/SIGINT:
 * the listener first (no new requests), then the subsystems in reverse start order.
 */
export async function serve(config: Config): Promise<void> {
  const log = createLogger(config.log);
  let dpc;
  try {
    dpc = await startDpc(config, log);
  } catch (err) {
    await closeLogger(log);
    throw err;
  }
  const server = await listen(createApp(dpc), config.http.host, config.http.port).catch(async (err: unknown) => {
    await dpc.stop();
    throw err;
  });
  const { port } = server.address() as AddressInfo;
  log.info(`console at http://${config.http.host}:${port}/`, { subsystem: 'server', port });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal} received: stopping`, { subsystem: 'server' });
    server.close();
    server.closeIdleConnections();
    try {
      await dpc.stop();
      log.info('DPC stopped', { subsystem: 'server' });
    } catch (err) {
      log.error(`stop failed: ${messageOf(err)}`, { subsystem: 'server' });
      process.exitCode = 1;
    }
    server.closeAllConnections();
    await closeLogger(log);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
