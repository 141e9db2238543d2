import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { DpcError } from '../../core/errors.js';
import { loadConfig, maskSecrets } from '../../server/config.js';
import { projectRoot } from '../../server/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'dpc-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const defaults = JSON.parse(readFileSync(join(projectRoot, 'config/default.json'), 'utf8')) as Record<string, unknown>;

let files = 0;
function file(content: unknown): string {
  const path = join(dir, `config-${++files}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** The DpcError loadConfig throws for these options; fails the test if it throws none. */
function configError(options: Parameters<typeof loadConfig>[0]): DpcError {
  try {
    loadConfig(options);
  } catch (err) {
    expect(err).toBeInstanceOf(DpcError);
    expect((err as DpcError).code).toBe('DPC_CONFIG');
    return err as DpcError;
  }
  throw new Error('loadConfig accepted the configuration');
}

describe('loadConfig', () => {
  test('gives config/default.json when neither a file nor the environment says otherwise', () => {
    expect(loadConfig({ env: {} })).toEqual(defaults);
  });

  test('reads environment overrides as the type of the key they override', () => {
    const config = loadConfig({
      env: {
        DPC_HTTP__PORT: '9090',
        DPC_LOG__CONSOLE: 'false',
        DPC_DB__POSTGRESQL__SSL: 'true',
        DPC_DB__CONNECTTIMEOUTMS: '1500',
        DPC_DB__POSTGRESQL__HOST: 'db.example.org',
        DPC_DSS__MINFREEMB: '0.5',
      },
    });
    expect(config.http.port).toBe(9090);
    expect(config.log.console).toBe(false);
    expect(config.db.postgresql.ssl).toBe(true);
    expect(config.db.connectTimeoutMs).toBe(1500);
    expect(config.db.postgresql.host).toBe('db.example.org');
    expect(config.dss.minFreeMb).toBe(0.5);
    expect(config.http.host).toBe('127.0.0.1');
  });

  test('ignores variables that are not of the form DPC_SECTION__KEY', () => {
    expect(loadConfig({ env: { DPC_TEST_DB: 'postgresql', PATH: '/usr/bin', HTTP__PORT: '1' } })).toEqual(defaults);
  });

  test('merges a JSON file over the defaults, key by key', () => {
    const config = loadConfig({ file: file({ http: { port: 9000 }, db: { sqlite: { path: '/srv/dpc/dpc.sqlite' } } }), env: {} });
    expect(config.http).toEqual({ host: '127.0.0.1', port: 9000, trustProxy: false, basePath: '' });
    expect(config.db.sqlite).toEqual({ path: '/srv/dpc/dpc.sqlite', busyTimeoutMs: 5000 });
    expect(config.db.client).toBe('sqlite');
  });

  test('takes the file from DPC_CONFIG, and the environment wins over the file', () => {
    const path = file({ http: { port: 9000, host: '0.0.0.0' } });
    const config = loadConfig({ env: { DPC_CONFIG: path, DPC_HTTP__PORT: '9001' } });
    expect(config.http).toEqual({ host: '0.0.0.0', port: 9001, trustProxy: false, basePath: '' });
  });

  test('http.trustProxy takes true or false, a number of hops or addresses, from a file or the environment', () => {
    expect(loadConfig({ env: { DPC_HTTP__TRUSTPROXY: 'true' } }).http.trustProxy).toBe(true);
    expect(loadConfig({ env: { DPC_HTTP__TRUSTPROXY: '2' } }).http.trustProxy).toBe(2);
    expect(loadConfig({ env: { DPC_HTTP__TRUSTPROXY: 'loopback, 10.0.0.0/8' } }).http.trustProxy).toBe('loopback, 10.0.0.0/8');
    expect(loadConfig({ file: file({ http: { trustProxy: 1 } }), env: {} }).http.trustProxy).toBe(1);
  });

  test('http.basePath is a path without a trailing slash, or empty', () => {
    expect(loadConfig({ env: { DPC_HTTP__BASEPATH: '/ops/dpc' } }).http.basePath).toBe('/ops/dpc');
    for (const bad of ['/dpc/', 'dpc', '/d p c']) {
      expect(configError({ env: { DPC_HTTP__BASEPATH: bad } }).message).toBe(`config: http.basePath must be a path like /dpc, without a trailing slash, or empty; got ${JSON.stringify(bad)}`);
    }
  });

  test('names an unknown key in the file', () => {
    expect(configError({ file: file({ http: { prot: 1 } }), env: {} }).message).toBe('config: unknown key http.prot');
    expect(configError({ file: file({ htp: {} }), env: {} }).message).toBe('config: unknown key htp');
  });

  test('names an unknown key in the environment, and the variable it came from', () => {
    expect(configError({ env: { DPC_HTTP__PROT: '1' } }).message).toBe('config: unknown key http.prot (from DPC_HTTP__PROT)');
    expect(configError({ env: { DPC_HTTP__PORT__X: '1' } }).message).toBe('config: unknown key http.port.x (from DPC_HTTP__PORT__X)');
  });

  test('names a value of the wrong type, from the environment or the file', () => {
    expect(configError({ env: { DPC_HTTP__PORT: 'abc' } }).message).toBe('config: http.port must be a number; got "abc"');
    expect(configError({ env: { DPC_HTTP__PORT: '' } }).message).toBe('config: http.port must be a number; got ""');
    expect(configError({ env: { DPC_LOG__CONSOLE: 'yes' } }).message).toBe('config: log.console must be a boolean; got "yes"');
    expect(configError({ file: file({ http: { port: '8080' } }), env: {} }).message).toBe('config: http.port must be a number; got "8080"');
    expect(configError({ file: file({ db: { sqlite: 'x' } }), env: {} }).message).toBe('config: db.sqlite must be an object; got "x"');
  });

  test('reads only plain decimal numbers from the environment', () => {
    expect(configError({ env: { DPC_HTTP__PORT: '0x1F' } }).message).toBe('config: http.port must be a number; got "0x1F"');
    expect(configError({ env: { DPC_HTTP__PORT: 'Infinity' } }).message).toBe('config: http.port must be a number; got "Infinity"');
    expect(configError({ env: { DPC_HTTP__PORT: '80.5' } }).message).toBe('config: http.port must be a whole number; got 80.5');
  });

  test('names a value outside its enumeration and lists the allowed ones', () => {
    expect(configError({ env: { DPC_DB__CLIENT: 'mysql' } }).message).toBe(
      'config: db.client must be one of sqlite, postgresql, oracle; got "mysql"',
    );
  });

  test('rejects a port out of range', () => {
    expect(configError({ env: { DPC_HTTP__PORT: '70000' } }).message).toBe('config: http.port must be at most 65535; got 70000');
    expect(configError({ env: { DPC_HTTP__PORT: '-1' } }).message).toBe('config: http.port must be at least 0; got -1');
    // The listener may take port 0 (any free one); the database port may not.
    expect(configError({ env: { DPC_DB__POSTGRESQL__PORT: '0' } }).message).toBe('config: db.postgresql.port must be at least 1; got 0');
  });

  test('says what a text value must look like', () => {
    expect(configError({ env: { DPC_HTTP__HOST: '' } }).message).toBe('config: http.host must not be empty; got ""');
    expect(configError({ env: { DPC_DB__POSTGRESQL__SCHEMA: 'Bad-Name' } }).message).toBe(
      'config: db.postgresql.schema must be a lower-case SQL identifier; got "Bad-Name"',
    );
  });

  test('never shows a secret in an error', () => {
    const message = configError({ file: file({ db: { postgresql: { password: 123456789 } } }), env: {} }).message;
    expect(message).toBe('config: db.postgresql.password must be a string; got (secret)');
  });

  test('names a file it cannot read or parse', () => {
    expect(configError({ file: join(dir, 'absent.json'), env: {} }).message).toBe(`config: cannot read ${join(dir, 'absent.json')}: ENOENT`);
    const broken = file('{"http": {');
    expect(configError({ file: broken, env: {} }).message).toMatch(new RegExp(`^config: ${broken} is not a JSON object: `));
    const list = file([1, 2]);
    expect(configError({ file: list, env: {} }).message).toBe(`config: ${list} is not a JSON object: not an object`);
  });

  test('reads a password from its passwordFile, without the final newline', () => {
    const secret = join(dir, 'pg-password');
    writeFileSync(secret, 'correct horse battery\n');
    const config = loadConfig({ env: { DPC_DB__POSTGRESQL__PASSWORDFILE: secret } });
    expect(config.db.postgresql.password).toBe('correct horse battery');
    expect(config.db.postgresql.passwordFile).toBe(secret);
  });

  test('names a passwordFile it cannot read', () => {
    const missing = join(dir, 'no-such-password');
    expect(configError({ env: { DPC_DB__ORACLE__PASSWORDFILE: missing } }).message).toBe(
      `config: db.oracle.passwordFile: cannot read ${missing}: ENOENT`,
    );
  });
});

describe('maskSecrets', () => {
  test('masks every password, set or not, and keeps the rest', () => {
    const secret = join(dir, 'pg-password-2');
    writeFileSync(secret, 'tr0ub4dor&3\n');
    const config = loadConfig({ env: { DPC_DB__POSTGRESQL__PASSWORDFILE: secret, DPC_DB__ORACLE__PASSWORD: 'tiger' } });
    const masked = maskSecrets(config);
    expect(masked.db.postgresql.password).toBe('****');
    expect(masked.db.oracle.password).toBe('****');
    expect(masked.db.postgresql.passwordFile).toBe(secret);
    expect(JSON.stringify(masked)).not.toMatch(/tr0ub4dor|tiger/);
    expect(masked.smas.metrics.token).toBe('****');
    expect({ ...masked, db: { ...masked.db, postgresql: config.db.postgresql, oracle: config.db.oracle }, smas: { ...masked.smas, metrics: config.smas.metrics } }).toEqual(config);
  });

  test('leaves the configuration it was given untouched', () => {
    const config = loadConfig({ env: { DPC_DB__ORACLE__PASSWORD: 'tiger' } });
    maskSecrets(config);
    expect(config.db.oracle.password).toBe('tiger');
  });
});
