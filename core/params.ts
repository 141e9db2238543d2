import { coreErrors } from './errors.js';

/**
 * The query-string values of the console's pages and of their JSON twins, and the fields of
 * their forms and JSON bodies, read alike: a missing, empty or null value is undefined (a
 * form's empty field filters nothing), anything else is checked and refused with a 400 that
 * names the parameter and what it got.
 */

function single(value: unknown, what: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  // A JSON body's number reads as the text a form would send.
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string') throw coreErrors.badRequest(`${what} must be given once, as text; got ${JSON.stringify(value)}`);
  return value;
}

export function wholeParam(value: unknown, what: string, min = 0): number | undefined {
  const text = single(value, what);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min) throw coreErrors.badRequest(`${what} must be a whole number of at least ${min}; got ${JSON.stringify(text)}`);
  return n;
}

/** The id of a path (`/jobs/:id`) or a field that must be there: a whole number of at least 1. */
export function idParam(value: unknown, what: string): number {
  const id = wholeParam(value, what, 1);
  if (id === undefined) throw coreErrors.badRequest(`${what} is missing`);
  return id;
}

/** How many rows a page shows: `limit` up to `max`, `fallback` when not given. */
export function limitParam(value: unknown, fallback = 50, max = 500): number {
  return Math.min(wholeParam(value, 'limit', 1) ?? fallback, max);
}

export function textParam(value: unknown, what: string, maxLength = 200): string | undefined {
  const text = single(value, what)?.trim();
  if (!text) return undefined;
  if (text.length > maxLength) throw coreErrors.badRequest(`${what} has ${text.length} characters; at most ${maxLength}`);
  return text;
}

export function oneOfParam<T extends string>(value: unknown, what: string, allowed: readonly T[]): T | undefined {
  const text = single(value, what);
  if (text === undefined) return undefined;
  if (!allowed.includes(text as T)) throw coreErrors.badRequest(`${what} must be one of ${allowed.join(', ')}; got ${JSON.stringify(text)}`);
  return text as T;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)?Z?$/;

/**
 * A time as Unix ms: digits are ms already; `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]` (what a
 * datetime-local field sends) are UTC, as every time the console shows.
 */
export function timeParam(value: unknown, what: string): number | undefined {
  const text = single(value, what)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return wholeParam(text, what);
  const ms = ISO_TIME.test(text) ? Date.parse(`${text.replace(' ', 'T').replace(/Z$/, '')}${text.length === 10 ? 'T00:00:00' : ''}Z`) : NaN;
  if (Number.isNaN(ms)) throw coreErrors.badRequest(`${what} must be a UTC time as YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS], or Unix milliseconds; got ${JSON.stringify(text)}`);
  return ms;
}

/** A query string of the values given, for the links of a page (the next page, a sort): bookmarkable. */
export function queryString(values: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
