import { defineError } from '../../core/errors.js';

/** Every error of system management (sign-in, sessions, roles, accounts; the Monitor and /metrics), declared once. */
export const smasErrors = {
  signInRequired: defineError('DPC_SMAS_SIGN_IN', 401, (why: string) => `sign in first: ${why}`),
  forbidden: defineError(
    'DPC_SMAS_FORBIDDEN',
    403,
    (username: string, role: string, needed: string, what: string) => `${username} (${role}) may not ${what}: it needs the role ${needed}`,
  ),
  badCredentials: defineError('DPC_SMAS_CREDENTIALS', 401, () => 'wrong user name or password'),
  locked: defineError(
    'DPC_SMAS_LOCKED',
    423,
    (username: string, failures: number, until: number) =>
      `the account ${username} is locked after ${failures} wrong passwords until ${new Date(until).toISOString().replace('T', ' ').slice(0, 19)} UTC; an admin can unlock it by resetting its password`,
  ),
  disabled: defineError('DPC_SMAS_DISABLED', 403, (username: string) => `the account ${username} is disabled; an admin can enable it`),
  tooManyAttempts: defineError('DPC_SMAS_RATE', 429, (what: string, minutes: number) => `too many sign-in attempts ${what}; try again in ${minutes} min`),
  csrf: defineError('DPC_SMAS_CSRF', 403, () => 'the form is missing its CSRF token or it is not this session\'s: reload the page and try again'),
  foreignOrigin: defineError('DPC_SMAS_ORIGIN', 403, (origin: string) => `refused a state-changing request from another site (${origin})`),
  badAccount: defineError('DPC_SMAS_ACCOUNT', 400, (problem: string) => problem),
  accountExists: defineError('DPC_SMAS_ACCOUNT_EXISTS', 409, (username: string) => `the user ${username} exists already`),
  unknownAccount: defineError('DPC_SMAS_UNKNOWN_ACCOUNT', 404, (username: string) => `there is no user ${username}`),
  tokenNotFound: defineError('DPC_SMAS_TOKEN_NOT_FOUND', 404, (id: number) => `API token ${id} not found among yours`),
  badAuditQuery: defineError('DPC_SMAS_AUDIT_QUERY', 400, (problem: string) => problem),
  firstAdmin: defineError(
    'DPC_SMAS_FIRST_ADMIN',
    500,
    (path: string, why: string) => `cannot write the first admin's password to ${path} (smas.firstAdminFile): ${why}`,
    { fixConfiguration: true },
  ),
  // Monitoring and metrics (issue 13, part 4): the Monitor's series and Prometheus /metrics.
  monitorQuery: defineError('DPC_SMAS_MONITOR_QUERY', 400, (what: string) => `monitor: ${what}`),
  metricsDisabled: defineError(
    'DPC_SMAS_METRICS_OFF',
    404,
    () => '/metrics is disabled: no bearer token is configured (set smas.metrics.token, or smas.metrics.tokenFile to a file holding it)',
  ),
  metricsToken: defineError('DPC_SMAS_METRICS_TOKEN', 401, () => '/metrics needs the bearer token of smas.metrics.token: send "Authorization: Bearer <token>"'),
};
