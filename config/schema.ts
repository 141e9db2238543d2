import { z } from 'zod';

/**
 * The shape of DPC's configuration. Every object is strict, so a misspelt key stops
 * start-up instead of being silently ignored; `config/default.json` gives every value.
 */
const port = z.number().int().min(1).max(65535);
/** 0 lets the system choose a free port (tests); the one bound is logged. */
const listenPort = z.number().int().min(0).max(65535);
const ms = z.number().int().min(0);
const secret = z.string();

export const configSchema = z
  .object({
    http: z.object({ host: z.string().min(1), port: listenPort }).strict(),
    db: z
      .object({
        client: z.enum(['sqlite', 'postgresql', 'oracle']),
        connectTimeoutMs: ms,
        poolMax: z.number().int().min(1).max(1000),
        sqlite: z.object({ path: z.string().min(1), busyTimeoutMs: ms }).strict(),
        postgresql: z
          .object({
            host: z.string().min(1),
            port,
            database: z.string().min(1),
            user: z.string().min(1),
            password: secret,
            passwordFile: z.string(),
            schema: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'a lower-case SQL identifier'),
            ssl: z.boolean(),
          })
          .strict(),
        oracle: z
          .object({
            connectString: z.string(),
            user: z.string(),
            password: secret,
            passwordFile: z.string(),
          })
          .strict(),
      })
      .strict(),
    log: z
      .object({
        level: z.enum(['error', 'warn', 'info', 'debug']),
        dir: z.string().min(1),
        maxFileMb: z.number().min(1),
        maxFiles: z.number().int().min(1),
        console: z.boolean(),
      })
      .strict(),
    shutdown: z.object({ graceMs: ms }).strict(),
    ems: z
      .object({
        outbox: z
          .object({
            pollMs: z.number().int().min(10),
            batchSize: z.number().int().min(1).max(1000),
            claimMs: z.number().int().min(100),
            backoffBaseMs: ms,
            backoffMaxMs: ms,
            maxAttempts: z.number().int().min(1),
          })
          .strict(),
      })
      .strict(),
    smas: z.object({ healthIntervalMs: z.number().int().min(100) }).strict(),
    dss: z.object({ root: z.string().min(1), minFreeMb: z.number().min(0) }).strict(),
    dts: z
      .object({
        upstream: z.object({ kind: z.enum(['none', 'local']), path: z.string() }).strict(),
      })
      .strict(),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type DbClient = Config['db']['client'];
