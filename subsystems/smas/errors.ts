import { defineError } from '../../core/errors.js';

export const smasErrors = {
  // Monitoring and metrics (issue 13, part 4): the Monitor's series and Prometheus /metrics.
  monitorQuery: defineError('DPC_SMAS_MONITOR_QUERY', 400, (what: string) => `monitor: ${what}`),
  metricsDisabled: defineError(
    'DPC_SMAS_METRICS_OFF',
    404,
    () => '/metrics is disabled: no bearer token is configured (set smas.metrics.token, or smas.metrics.tokenFile to a file holding it)',
  ),
  metricsToken: defineError('DPC_SMAS_METRICS_TOKEN', 401, () => '/metrics needs the bearer token of smas.metrics.token: send "Authorization: Bearer <token>"'),
};
