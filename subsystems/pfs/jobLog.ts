import { appendFileSync, existsSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeDir } from '../../core/files.js';

/** Where a job's log lives, relative to the log directory: what rms_job.logs and the Logs page show. */
export function jobLogName(workflowid: number, jobid: number): string {
  return join('jobs', String(workflowid), `${jobid}.log`);
}

/**
 * A job's own log file, as the DPCT's Logs page shows them: made on the first line written
 * (a silent job costs no file), rotated when it passes its size cap, a few backups kept
 * (`<name>.1` the newest). Written synchronously: it serves a worker thread or the output of
 * a child process, and a line must be on disk when the job dies.
 */
export class JobLog {
  private size = -1;
  backups = 0;
  bytes = 0;

  constructor(
    readonly file: string,
    private readonly maxBytes: number,
    private readonly maxBackups: number,
  ) {}

  get written(): boolean {
    return this.size >= 0;
  }

  write(text: string): void {
    if (this.size < 0) {
      makeDir(dirname(this.file));
      this.size = existsSync(this.file) ? statSync(this.file).size : 0;
    }
    if (this.size > 0 && this.size + Buffer.byteLength(text) > this.maxBytes) this.rotate();
    appendFileSync(this.file, text);
    const n = Buffer.byteLength(text);
    this.size += n;
    this.bytes += n;
  }

  line(message: string): void {
    this.write(`${new Date().toISOString()} ${message.replace(/\n$/, '')}\n`);
  }

  private rotate(): void {
    if (this.maxBackups === 0) {
      renameSync(this.file, `${this.file}.1`);
    } else {
      for (let i = this.maxBackups - 1; i >= 1; i--) if (existsSync(`${this.file}.${i}`)) renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`);
      renameSync(this.file, `${this.file}.1`);
      this.backups = Math.min(this.backups + 1, this.maxBackups);
    }
    this.size = 0;
  }
}
