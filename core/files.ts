import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * `mkdir -p` that fails instead of spinning: Node 20's recursive mkdirSync loops forever on a
 * directory that keeps answering ENOENT (under /proc, say), blocking the process, signals too.
 */
export function makeDir(dir: string, retry = true): void {
  try {
    mkdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!statSync(dir).isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
      return;
    }
    if (code !== 'ENOENT' || !retry || dirname(dir) === dir) throw err;
    makeDir(dirname(dir));
    makeDir(dir, false);
  }
}
