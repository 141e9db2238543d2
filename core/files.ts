import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

/**
 * The project root: the first directory above a module (its `import.meta.url`) that holds
 * package.json, whether the module runs from source or from dist/.
 */
export function projectRootOf(moduleUrl: string): string {
  const from = dirname(fileURLToPath(moduleUrl));
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
  return dir;
}
