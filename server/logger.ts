import { makeDir } from '../core/files.js';
import { resolve } from 'node:path';
import winston from 'winston';
import type { Config } from '../config/schema.js';

/** Context fields a log line may carry, so that an operator can grep for one job's story. */
const CONTEXT = ['subsystem', 'workflowid', 'stepid', 'jobid', 'nodeid', 'transferid'] as const;

const text = winston.format.printf((info) => {
  const context = CONTEXT.filter((k) => info[k] !== undefined).map((k) => (k === 'subsystem' ? `[${info[k]}]` : `${k}=${info[k]}`));
  const rest = Object.entries(info)
    .filter(([k]) => !['level', 'message', 'timestamp', ...CONTEXT].includes(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return [info.timestamp, info.level.toUpperCase().padEnd(5), ...context, info.message, ...rest].join(' ');
});

/**
 * The process logger: JSON lines to a size-rotated file under log.dir, readable text on
 * the console. Subsystems get a child carrying `subsystem`; jobs add their ids.
 */
export function createLogger(config: Config['log']): winston.Logger {
  const dir = resolve(config.dir);
  makeDir(dir);
  const transports: winston.transport[] = [
    new winston.transports.File({
      filename: resolve(dir, 'dpc.log'),
      format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
      maxsize: config.maxFileMb * 1024 * 1024,
      maxFiles: config.maxFiles,
      tailable: true,
    }),
  ];
  if (config.console) {
    transports.push(
      new winston.transports.Console({
        format: winston.format.combine(winston.format.timestamp({ format: 'YYYY-MM-DD HH:mm:ss.SSS' }), text),
      }),
    );
  }
  return winston.createLogger({ level: config.level, transports });
}

/** Writes out what the file transport still buffers: before the process exits. */
export async function closeLogger(log: winston.Logger): Promise<void> {
  await new Promise<void>((done) => {
    log.on('finish', () => done());
    log.end();
    setTimeout(done, 2000).unref();
  });
}
