import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRootOf } from '../core/files.js';

/** The project root, found from this file whether it runs from source or from dist/. */
export const projectRoot = projectRootOf(import.meta.url);

/** The software version: recorded with every process, run and solution. */
export const softwareVersion: string = (
  JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string }
).version;
