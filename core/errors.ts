/**
 * The one error type of DPC. Every subsystem declares its errors once, in its own
 * `errors.ts`, with `defineError`: a stable code operators can search for, an HTTP status
 * for the API, and a message written for the operator reading it.
 */
export class DpcError extends Error {
  readonly code: string;
  readonly status: number;
  /** See `ErrorOptions.fixConfiguration`. */
  readonly fixConfiguration: boolean;

  constructor(code: string, message: string, status: number, options?: { cause?: unknown; fixConfiguration?: boolean }) {
    super(message, options);
    this.name = 'DpcError';
    this.code = code;
    this.status = status;
    this.fixConfiguration = options?.fixConfiguration ?? false;
  }
}

export interface ErrorOptions {
  /**
   * The process cannot run until an operator fixes its configuration or what it names (the
   * database, a directory, a workflow module): `dpc` stops with the message and exit code 2,
   * which a service manager reads as "do not restart it as it is".
   */
  fixConfiguration?: boolean;
}

export interface ErrorFactory<A extends unknown[]> {
  (...args: A): DpcError;
  readonly code: string;
  readonly status: number;
  readonly fixConfiguration: boolean;
  /** True when `err` was made by this factory. */
  is(err: unknown): err is DpcError;
}

export function defineError<A extends unknown[]>(
  code: string,
  status: number,
  message: (...args: A) => string,
  options: ErrorOptions = {},
): ErrorFactory<A> {
  const fixConfiguration = options.fixConfiguration ?? false;
  const make = (...args: A) => new DpcError(code, message(...args), status, { fixConfiguration });
  return Object.assign(make, {
    code,
    status,
    fixConfiguration,
    is: (err: unknown): err is DpcError => err instanceof DpcError && err.code === code,
  });
}

const fixConfiguration = { fixConfiguration: true };

/** Errors that belong to no single subsystem: the process, its configuration and database, HTTP and the CLI. */
export const coreErrors = {
  config: defineError('DPC_CONFIG', 500, (problem: string) => `config: ${problem}`, fixConfiguration),
  dbUnavailable: defineError(
    'DPC_DB_UNAVAILABLE',
    503,
    (reason: string) => `the database is unreachable (${reason}); nothing was changed, try again when it is back`,
  ),
  dbStart: defineError('DPC_DB_START', 500, (what: string) => `database: ${what}`, fixConfiguration),
  migrating: defineError(
    'DPC_DB_MIGRATING',
    503,
    (lock: string, waitedMs: number) =>
      `database: another process is migrating it (it holds the ${lock}); gave up after ${waitedMs} ms (db.migrationWaitMs): try again once it has finished`,
    fixConfiguration,
  ),
  migrationRunning: defineError(
    'DPC_DB_MIGRATION_RUNNING',
    409,
    (lock: string) => `database: a migration is running (its process holds the ${lock}): its migration lock is not stale; left it set`,
    fixConfiguration,
  ),
  notFound: defineError('DPC_NOT_FOUND', 404, (what: string) => `${what} not found`),
  badRequest: defineError('DPC_BAD_REQUEST', 400, (what: string) => what),
  tooLarge: defineError('DPC_TOO_LARGE', 413, (what: string) => what),
  /** An operator's action without a reason: every action is audited with who did it and why. */
  reasonRequired: defineError('DPC_REASON_REQUIRED', 400, (action: string) => `${action} needs a reason: it is recorded with who did it and when`),
  internal: defineError('DPC_INTERNAL', 500, () => 'internal error; the server log has the details'),
  /** A route reached without a signed-in user: the server's sign-in check failed to run before it. */
  noUser: defineError('DPC_NO_USER', 500, () => 'internal error: an action reached the server without a signed-in user; nothing was changed'),
  serverUnreachable: defineError(
    'DPC_CLI_SERVER',
    503,
    (origin: string, why: string) => `no DPC server answers at ${origin} (${why}); start one or give --url`,
  ),
  /** `dpc workflow start --wait` or `backfill --wait` saw a workflow end FAILED or CANCELLED: the command exits non-zero. */
  workflowsEnded: defineError('DPC_CLI_WORKFLOW', 409, (which: string) => which),
  serverAnswer: defineError('DPC_CLI_ANSWER', 502, (origin: string, status: string) => `the server at ${origin} answered ${status}, not a DPC error`),
};

/** The message of anything thrown, for logs and operator-facing text. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
