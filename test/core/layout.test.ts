import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const coreDir = join(import.meta.dirname, '../../core');

describe('core', () => {
  it('imports no subsystem and nothing of the server, so that its contracts point one way', () => {
    const upward = readdirSync(coreDir)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) =>
        [...readFileSync(join(coreDir, f), 'utf8').matchAll(/from '([^']+)'/g)]
          .map((m) => m[1])
          .filter((spec) => /(^|\/)(subsystems|server)\//.test(spec))
          .map((spec) => `${f}: ${spec}`),
      );
    expect(upward).toEqual([]);
  });
});
