import type { Extent } from './jobLog.js';
import type { JobLogStore, LogAttempt } from './logStore.js';

/** States in which a job's current attempt may still write to its log. */
export const ACTIVE = new Set(['WAITING', 'READY', 'RETRY_WAIT', 'CLAIMED', 'RUNNING']);

/** How much of a log one read of the page or the search takes: a log of many megabytes is read in parts. */
export const CHUNK_BYTES = 1024 * 1024;

/** The attempt a job's log is shown for when none is asked: its current one while it may still write, else its last. */
export function latestAttempt(job: Record<string, unknown>, attempts: readonly LogAttempt[]): number {
  const current = ACTIVE.has(String(job.status)) ? Number(job.attempts) + 1 : Number(job.attempts);
  return Math.max(attempts.at(-1)?.attempt ?? 0, current, 1);
}

export const bytesOf = (extents: readonly Extent[]) => extents.reduce((n, e) => n + e.bytes, 0);

/** A part of a log for the page: whole lines from about `from` to about `to` (bytes), and where they really begin and end. */
export interface LogWindow {
  from: number;
  to: number;
  total: number;
  text: string;
}

/**
 * The lines of the log that lie in [from, from + length): a line cut at either end is left
 * out, so each part shows whole lines and the next one begins where this one ends. A part
 * with no line end in it (one line longer than `length`) is shown as it is.
 */
export async function lineWindow(store: JobLogStore, extents: readonly Extent[], from: number, length: number): Promise<LogWindow> {
  const total = bytesOf(extents);
  from = Math.min(Math.max(from, 0), total);
  const to = Math.min(from + length, total);
  // One byte before: whether `from` begins a line.
  const lead = from > 0 ? 1 : 0;
  const buf = await store.read(extents, from - lead, to - from + lead);
  let start = 0;
  if (lead === 1) {
    const nl = buf.indexOf(0x0a);
    start = nl < 0 ? 1 : nl + 1;
  }
  let end = buf.length;
  if (to < total) {
    const nl = buf.lastIndexOf(0x0a);
    if (nl >= start) end = nl + 1;
  }
  if (end <= start) ({ start, end } = { start: lead, end: buf.length });
  return { from: from - lead + start, to: from - lead + end, total, text: buf.subarray(start, end).toString('utf8') };
}

export interface LogMatch {
  /** The byte where the line begins. */
  offset: number;
  line: string;
}

export interface LogSearch {
  matches: LogMatch[];
  /** Where the next page of matches begins: the search stopped at `limit` matches or at `budget` bytes read. */
  next?: number;
}

/**
 * The lines holding `text` (in any case) from byte `from` on, at most `limit`, reading the
 * log in parts of CHUNK_BYTES and at most `budget` bytes per call: a search of a log of many
 * megabytes is paged by byte, never one read of it all.
 */
export async function searchLog(store: JobLogStore, extents: readonly Extent[], text: string, o: { from: number; limit: number; budget: number }): Promise<LogSearch> {
  const total = bytesOf(extents);
  const needle = text.toLowerCase();
  const matches: LogMatch[] = [];
  let carry: Buffer = Buffer.alloc(0);
  let carryAt = Math.min(o.from, total);
  let pos = carryAt;
  const stop = Math.min(total, pos + o.budget);
  const look = (line: Buffer, at: number) => {
    const s = line.toString('utf8');
    if (s.toLowerCase().includes(needle)) matches.push({ offset: at, line: s });
  };
  while (pos < stop) {
    const buf = await store.read(extents, pos, Math.min(CHUNK_BYTES, stop - pos));
    pos += buf.length;
    const data = carry.length ? Buffer.concat([carry, buf]) : buf;
    let start = 0;
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
      look(data.subarray(start, nl), carryAt + start);
      start = nl + 1;
      if (matches.length === o.limit) return { matches, ...(carryAt + start < total ? { next: carryAt + start } : {}) };
    }
    carry = data.subarray(start);
    carryAt += start;
    // A line longer than a part is searched in parts of its own.
    if (carry.length > CHUNK_BYTES) {
      look(carry, carryAt);
      carryAt += carry.length;
      carry = Buffer.alloc(0);
      if (matches.length === o.limit) return { matches, ...(carryAt < total ? { next: carryAt } : {}) };
    }
  }
  if (pos >= total && carry.length > 0) {
    look(carry, carryAt);
    return { matches };
  }
  return { matches, ...(carryAt < total ? { next: carryAt } : {}) };
}
