import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadConfig } from '../../server/config.js';
import { projectRoot } from '../../server/paths.js';

const dir = join(projectRoot, 'config', 'examples');

describe('the example production configurations', () => {
  // Their password files exist only on a production host: blank them to check the rest.
  const noSecretFiles = {
    DPC_DB__POSTGRESQL__PASSWORDFILE: '',
    DPC_DB__ORACLE__PASSWORDFILE: '',
  };

  test.each(readdirSync(dir).filter((f) => f.endsWith('.json')))('%s is valid configuration', (file) => {
    const config = loadConfig({ file: join(dir, file), env: noSecretFiles });
    expect(['postgresql', 'oracle']).toContain(config.db.client);
  });

  test('the Oracle RAC example names two hosts in its connect string', () => {
    const config = loadConfig({ file: join(dir, 'oracle-rac.json'), env: noSecretFiles });
    expect(config.db.oracle.connectString.match(/HOST=/g)).toHaveLength(2);
  });
});
