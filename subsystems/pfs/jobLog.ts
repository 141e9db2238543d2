import { closeSync, fdatasync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeDir } from '../../core/files.js';

/**
 * A job attempt's log as the Logs page and rms_job.logs name it: a virtual file, `<workflow>/<job>.<attempt>.log`
 * (the DPCT's FILENAME). Its bytes lie in segments, found through pfs_log_extent.
 */
export function jobLogName(workflowid: number, jobid: number, attempt: number): string {
  return `${workflowid}/${jobid}.${attempt}.log`;
}

/** Where some of a job's log lies: `bytes` bytes at `pos` in the segment `segment` (its name). */
export interface Extent {
  segment: string;
  pos: number;
  bytes: number;
}

/** How a writer's segments are made. */
export interface SegmentOptions {
  /** The store's directory (pfs.jobLog.dir, resolved). */
  dir: string;
  /** Unique among every writer of every process that shares the directory: process id and writer. */
  writer: string;
  maxBytes: number;
  maxAgeMs: number;
  /** fdatasync at `sync()` (pfs.jobLog.fsync `batch`). */
  fsync: boolean;
}

/**
 * The append-only segment file of one writer (a worker thread, or a process's own thread for
 * external programs' output): written with write(2) only, so that what it took is in the
 * kernel once `append` returns, and a kill -9 of the process loses none of it. Past its size
 * or age it is closed and the next one begun; nothing is ever written into a segment older
 * than `maxAgeMs`, which is what lets retention delete whole old ones.
 */
export class SegmentWriter {
  private fd = -1;
  private name = '';
  private size = 0;
  private opened = 0;
  private count = 0;
  private unsynced = false;
  /** The last fdatasync begun: it covers every write made before it. */
  private syncing: Promise<void> | undefined;
  private syncsInFlight = 0;
  /** Descriptors of rotated segments, closed once no fdatasync may be using them. */
  private retired: number[] = [];

  constructor(private readonly o: SegmentOptions) {}

  /** Appends `buf` in one write; returns where it went. */
  append(buf: Buffer): { segment: string; pos: number } {
    const now = Date.now();
    if (this.fd < 0 || (this.size > 0 && this.size + buf.length > this.o.maxBytes) || now - this.opened >= this.o.maxAgeMs) this.begin(now);
    const pos = this.size;
    let done = 0;
    while (done < buf.length) done += writeSync(this.fd, buf, done, buf.length - done);
    this.size += buf.length;
    this.unsynced = true;
    return { segment: this.name, pos };
  }

  /**
   * With fsync `batch`: what was appended is on the disk when this settles. It runs in
   * libuv's pool, so a thread runs its other batches meanwhile; a write made while one runs
   * gets one of its own.
   */
  sync(): Promise<void> {
    if (!this.o.fsync) return Promise.resolve();
    if (!this.unsynced || this.fd < 0) return this.syncing ?? Promise.resolve();
    this.unsynced = false;
    const fd = this.fd;
    this.syncsInFlight++;
    this.syncing = new Promise<void>((done, fail) => fdatasync(fd, (err) => (err ? fail(err) : done()))).finally(() => {
      if (--this.syncsInFlight > 0) return;
      for (const r of this.retired) closeSync(r);
      this.retired = [];
    });
    return this.syncing;
  }

  close(): void {
    if (this.fd < 0) return;
    // What the next segment's sync will not cover goes to the disk now.
    if (this.o.fsync && this.unsynced) fdatasyncSync(this.fd);
    this.unsynced = false;
    if (this.syncsInFlight > 0) this.retired.push(this.fd);
    else closeSync(this.fd);
    this.fd = -1;
  }

  private begin(now: number): void {
    this.close();
    const day = new Date(now).toISOString().slice(0, 10);
    this.name = `${day}/${this.o.writer}-${now.toString(36)}-${this.count++}.seg`;
    const file = join(this.o.dir, this.name);
    makeDir(dirname(file));
    // 'ax': a new file, appended to; a name that exists is another writer's, never shared.
    this.fd = openSync(file, 'ax');
    this.size = 0;
    this.opened = now;
  }
}

/** A job's log size cap, as the DPCT's rotation kept at most: `logMaxKb` in each of 1 + `logBackups` parts. */
export function logCapBytes(logMaxKb: number, logBackups: number): number {
  return logMaxKb * 1024 * (1 + logBackups);
}

/**
 * NUMBEROFBACKUP of a log of `bytes`: the parts of `logMaxKb` past its first, as the DPCT
 * counted a log's rotated files; MAXBACKUPNUMBER (`logBackups`) means it reached its cap.
 */
export function backupsOf(bytes: number, logMaxKb: number, logBackups: number): number {
  return Math.min(Math.floor(Math.max(bytes - 1, 0) / (logMaxKb * 1024)), logBackups);
}

/** The time of a line, made once per millisecond: `toISOString` cost more than the rest of a line. */
let stampMs = 0;
let stamp = '';
function now(): string {
  const ms = Date.now();
  if (ms !== stampMs) {
    stampMs = ms;
    stamp = new Date(ms).toISOString();
  }
  return stamp;
}

/**
 * What one run of a job attempt logs, on the writer's side: lines wait in memory until
 * `flush` writes them to the writer's segment (at the end of a thread's batch, or while the
 * job runs, every pfs.jobLog.flushMs), and each write becomes an extent. Past its cap a log
 * gets one marker line and drops the rest.
 */
export class JobLog {
  /** Bytes written so far: the log's size once nothing waits. */
  bytes = 0;
  truncated = false;
  /** Every extent written, in order. */
  readonly extents: Extent[] = [];
  /** Extents before this index were handed on while the job ran: never grown after that. */
  private handed = 0;
  private pending: string[] = [];
  /** UTF-16 units waiting: a line's bytes are counted when it is written, or near the cap. */
  private pendingChars = 0;
  lastFlush = 0;

  constructor(private readonly capBytes: number) {}

  get written(): boolean {
    return this.bytes > 0 || this.pending.length > 0;
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  line(message: string): void {
    this.write(`${now()} ${message.endsWith('\n') ? message.slice(0, -1) : message}\n`);
  }

  write(text: string): void {
    if (this.truncated) return;
    // A UTF-16 unit is at most 3 bytes of UTF-8: far below the cap, nothing need be counted.
    if (this.bytes + 3 * (this.pendingChars + text.length) > this.capBytes) {
      const waiting = Buffer.byteLength(this.pending.join(''));
      if (this.bytes + waiting + Buffer.byteLength(text) > this.capBytes) {
        text = `${now()} [DPC: this log reached its cap of ${Math.round(this.capBytes / 1024)} KiB (pfs.local.logMaxKb × (1 + logBackups)); later lines were dropped]\n`;
        this.truncated = true;
      }
    }
    this.pending.push(text);
    this.pendingChars += text.length;
  }

  /** Writes what waits, in one write. */
  flush(segment: SegmentWriter): void {
    flushLogs([this], segment);
  }

  /** The extents written since the last call, which are not grown after: those of a running job. */
  handOn(): Extent[] {
    const out = this.extents.slice(this.handed);
    this.handed = this.extents.length;
    return out;
  }

  /** @internal What `flushLogs` writes: the lines waiting, encoded, then forgotten. */
  take(): Buffer {
    const out = Buffer.from(this.pending.length === 1 ? this.pending[0] : this.pending.join(''));
    this.pending = [];
    this.pendingChars = 0;
    return out;
  }

  /** @internal */
  wrote(segment: string, pos: number, bytes: number): void {
    this.bytes += bytes;
    const last = this.extents.length > this.handed ? this.extents[this.extents.length - 1] : undefined;
    if (last && last.segment === segment && last.pos + last.bytes === pos) last.bytes += bytes;
    else this.extents.push({ segment, pos, bytes });
  }
}

/**
 * Writes the waiting lines of several jobs' logs to a segment in one write(2), each job's part
 * an extent of its own: a batch of hundreds of short jobs costs one system call.
 */
export function flushLogs(logs: JobLog[], segment: SegmentWriter): void {
  const parts: { log: JobLog; buf: Buffer }[] = [];
  for (const log of logs) if (log.hasPending) parts.push({ log, buf: log.take() });
  if (parts.length === 0) return;
  const at = segment.append(parts.length === 1 ? parts[0].buf : Buffer.concat(parts.map((p) => p.buf)));
  let pos = at.pos;
  const ms = Date.now();
  for (const p of parts) {
    p.log.wrote(at.segment, pos, p.buf.length);
    p.log.lastFlush = ms;
    pos += p.buf.length;
  }
}
