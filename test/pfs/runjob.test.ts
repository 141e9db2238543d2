import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assertRunjobBuilt, readUsage, runjobPath } from '../../subsystems/pfs/runjob.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dpc-runjob-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `program args` under the helper as the local executor does; `onStdout` sees the
 *  program's output as it comes, with the helper's pid. */
function runjob(usageFile: string, args: string[], onStdout?: (text: string, pid: number) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(runjobPath, [usageFile, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      onStdout?.(stdout, child.pid!);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('dpc-runjob', () => {
  it('is built by npm install', () => {
    expect(() => assertRunjobBuilt()).not.toThrow();
  });

  it('reports the exit code and CPU time of a program that burns CPU', async () => {
    const usageFile = join(dir, 'usage.json');
    // Spin until the process itself has used 400 ms of CPU, then exit 7.
    const run = await runjob(usageFile, ['/usr/bin/perl', '-e', '1 while (times)[0] + (times)[1] < 0.4; exit 7']);
    expect(run.code).toBe(7);
    const usage = await readUsage(usageFile);
    expect(usage).toMatchObject({ exitCode: 7, signal: null });
    expect(usage!.userMs + usage!.systemMs).toBeGreaterThanOrEqual(350);
    expect(usage!.userMs + usage!.systemMs).toBeLessThan(5_000);
  });

  it('reports the peak memory of a program that allocates, not that of the helper', async () => {
    const big = join(dir, 'big.json');
    const small = join(dir, 'small.json');
    // A 200 MB string is 195 313 KiB.
    expect((await runjob(big, ['/usr/bin/perl', '-e', '$x = "a" x 200_000_000; sleep 0'])).code).toBe(0);
    expect((await runjob(small, ['/bin/true'])).code).toBe(0);
    expect((await readUsage(big))!.maxRssKb).toBeGreaterThan(195_000);
    expect((await readUsage(small))!.maxRssKb).toBeLessThan(50_000);
  });

  it('forwards SIGTERM to the program and reports the signal, exiting 128+15', async () => {
    const usageFile = join(dir, 'usage.json');
    let sent = false;
    const run = await runjob(usageFile, ['/bin/sh', '-c', 'echo ready; exec sleep 10'], (out, pid) => {
      // Only once the program runs: the helper's handlers are certainly in place then.
      if (!sent && out.includes('ready')) {
        sent = true;
        process.kill(pid, 'SIGTERM');
      }
    });
    expect(sent).toBe(true);
    expect(run).toMatchObject({ code: 143, signal: null });
    expect(await readUsage(usageFile)).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
  });

  it('exits 127 with a message on stderr for a program that does not exist', async () => {
    const usageFile = join(dir, 'usage.json');
    const run = await runjob(usageFile, ['/nonexistent/dpc-program', '--flag']);
    expect(run.code).toBe(127);
    expect(run.stderr).toBe('dpc-runjob: cannot run /nonexistent/dpc-program: No such file or directory\n');
    expect(await readUsage(usageFile)).toMatchObject({ exitCode: 127, signal: null });
  });
});

describe('readUsage', () => {
  it('returns undefined when the helper wrote no usage file', async () => {
    expect(await readUsage(join(dir, 'missing.json'))).toBeUndefined();
  });

  it('throws naming the file when its content is not JSON', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{"exitCode":0,');
    await expect(readUsage(file)).rejects.toThrow(file);
  });

  it('throws naming the file when its JSON is not a usage record', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{"exitCode":0,"signal":null,"userMs":"12"}\n');
    await expect(readUsage(file)).rejects.toThrow(`malformed resource-usage file ${file}`);
  });
});
