import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { JobLog, jobLogName } from '../../subsystems/pfs/jobLog.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dpc-joblog-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('a job log', () => {
  test('makes no file until its first line, then the file and its folders', () => {
    const file = join(dir, jobLogName(7, 70));
    const log = new JobLog(file, 1024, 2);
    expect(log.written).toBe(false);
    expect(existsSync(file)).toBe(false);
    log.line('hello');
    expect(log.written).toBe(true);
    expect(readFileSync(file, 'utf8')).toMatch(/^\S+Z hello\n$/);
    expect(log.bytes).toBe(readFileSync(file).length);
  });

  test('appends to what an earlier attempt of the job wrote', () => {
    const file = join(dir, jobLogName(7, 71));
    new JobLog(file, 1024, 2).line('attempt 1');
    new JobLog(file, 1024, 2).line('attempt 2');
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ').slice(1).join(' '))).toEqual(['attempt 1', 'attempt 2']);
  });

  test('rotates past its size cap, keeping its backups newest first', () => {
    const file = join(dir, jobLogName(8, 80));
    const log = new JobLog(file, 60, 2);
    for (const n of [1, 2, 3, 4]) log.line(`line ${n} ${'x'.repeat(20)}`);
    expect(log.backups).toBe(2);
    expect(readFileSync(file, 'utf8')).toMatch(/line 4/);
    expect(readFileSync(`${file}.1`, 'utf8')).toMatch(/line 3/);
    expect(readFileSync(`${file}.2`, 'utf8')).toMatch(/line 2/);
    expect(existsSync(`${file}.3`)).toBe(false);
  });

  test('makes its folder again if it went after an earlier job made it (retention purged it)', () => {
    const first = join(dir, jobLogName(9, 90));
    new JobLog(first, 1024, 1).line('first');
    rmSync(join(dir, 'jobs', '9'), { recursive: true });
    const second = join(dir, jobLogName(9, 91));
    new JobLog(second, 1024, 1).line('second');
    expect(readFileSync(second, 'utf8')).toMatch(/second/);
  });
});
