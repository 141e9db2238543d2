import autocannon from 'autocannon';

/** What one fixed-rate run of one URL gave. */
export interface Load {
  /** Requests per second offered, and answered. */
  offered: number;
  achieved: number;
  requests: number;
  p50: number;
  p99: number;
  max: number;
  /** Connection errors and timeouts, and answers that were not 2xx, by status. */
  errors: number;
  non2xx: number;
  statuses: Record<string, number>;
}

/**
 * Offers `rate` requests per second to `url` for `seconds` (autocannon's overallRate, on
 * loopback), with enough connections that each carries at most 5 per second: a latency
 * below 200 ms never holds the offered rate back, so a server that is too slow shows as a
 * lower achieved rate and higher latencies, not as fewer requests sent.
 */
export async function offer(url: string, headers: Record<string, string>, rate: number, seconds: number): Promise<Load> {
  const r = await autocannon({
    url,
    headers,
    overallRate: rate,
    connections: Math.min(500, Math.max(10, Math.ceil(rate / 5))),
    duration: seconds,
    timeout: 10,
  });
  const statuses: Record<string, number> = {};
  for (const [code, s] of Object.entries(r.statusCodeStats ?? {})) statuses[code] = s.count ?? 0;
  return {
    offered: rate,
    achieved: Math.round((r.requests.total / r.duration) * 10) / 10,
    requests: r.requests.total,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    statuses,
  };
}

/** The goal: p99 under this, every answer a 2xx, and at least 90 % of the offered rate answered. */
export const GOAL_P99_MS = 100;

export function passes(l: Load): boolean {
  return l.p99 < GOAL_P99_MS && l.errors === 0 && l.non2xx === 0 && l.achieved >= 0.9 * l.offered;
}
