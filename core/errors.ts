/**
 * The one error type of DPC. Every subsystem declares its errors once, in its own
 * `errors.ts`, with `defineError`: a stable code operators can search for, an HTTP status
 * for the API, and a message written for the operator reading it.
 */
export class DpcError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string, status: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DpcError';
    this.code = code;
    this.status = status;
  }
}

export interface ErrorFactory<A extends unknown[]> {
  (...args: A): DpcError;
  readonly code: string;
  readonly status: number;
  /** True when `err` was made by this factory. */
  is(err: unknown): err is DpcError;
}

export function defineError<A extends unknown[]>(
  code: string,
  status: number,
  message: (...args: A) => string,
): ErrorFactory<A> {
  const make = (...args: A) => new DpcError(code, message(...args), status);
  return Object.assign(make, {
    code,
    status,
    is: (err: unknown): err is DpcError => err instanceof DpcError && err.code === code,
  });
}

/** Errors that belong to no single subsystem: the process, its configuration and database. */
export const coreErrors = {
  config: defineError('DPC_CONFIG', 500, (problem: string) => `config: ${problem}`),
  dbUnavailable: defineError(
    'DPC_DB_UNAVAILABLE',
    503,
    (reason: string) => `the database is unreachable (${reason}); nothing was changed, try again when it is back`,
  ),
  dbStart: defineError('DPC_DB_START', 500, (what: string) => `database: ${what}`),
  migrating: defineError(
    'DPC_DB_MIGRATING',
    503,
    (lock: string, waitedMs: number) =>
      `database: another process is migrating it (it holds the ${lock}); gave up after ${waitedMs} ms (db.migrationWaitMs): try again once it has finished`,
  ),
  migrationRunning: defineError(
    'DPC_DB_MIGRATION_RUNNING',
    409,
    (lock: string) => `database: a migration is running (its process holds the ${lock}): its migration lock is not stale; left it set`,
  ),
  notFound: defineError('DPC_NOT_FOUND', 404, (what: string) => `${what} not found`),
  badRequest: defineError('DPC_BAD_REQUEST', 400, (what: string) => what),
};

/** The message of anything thrown, for logs and operator-facing text. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
