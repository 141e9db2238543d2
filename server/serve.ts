import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { coreErrors, messageOf } from '../core/errors.js';
import { createApp, listen } from './http.js';
import { startDpc } from './lifecycle.js';
import { closeLogger, createLogger } from './logger.js';

/**
 * `dpc serve`: starts the DPC and its HTTP console, and stops both on SIGTERM/SIGINT:
 * the listener first (no new requests), then the subsystems in reverse start order.
 */
export async function serve(config: Config): Promise<void> {
  let log;
  try {
    log = createLogger(config.log);
  } catch (err) {
    // Like an unwritable database, a log directory that cannot be made is for the operator to fix.
    throw coreErrors.config(`log.dir: cannot write ${resolve(config.log.dir)}: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
  }
  let dpc;
  try {
    dpc = await startDpc(config, log);
  } catch (err) {
    await closeLogger(log);
    throw err;
  }
  const { host } = config.http;
  const server = await listen(createApp(dpc), host, config.http.port).catch(async (err: unknown) => {
    // A port in use or a host that is not this machine's: the operator changes http.*.
    const problem = coreErrors.config(`cannot listen on http.host ${host}, http.port ${config.http.port}: ${messageOf(err)}`);
    log.error(problem.message, { subsystem: 'server' });
    await dpc.stop();
    await closeLogger(log);
    throw problem;
  });
  const { port } = server.address() as AddressInfo;
  // An IPv6 address goes in brackets in a URL.
  log.info(`console at http://${host.includes(':') ? `[${host}]` : host}:${port}/`, { subsystem: 'server', port });

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
    // Everything is recorded; a socket still held by a frozen database must not keep us alive.
    setTimeout(() => process.exit(), 2000).unref();
  };
  // A promise nobody awaited fails one piece of work, not the whole DPC: say so and go on.
  process.on('unhandledRejection', (err) => log.error(`unhandled rejection: ${messageOf(err)}`, { subsystem: 'server' }));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
