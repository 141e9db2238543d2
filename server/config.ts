import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { configSchema, type Config } from '../config/schema.js';
import { coreErrors } from '../core/errors.js';
import { describeIssue } from '../core/issues.js';
import { projectRoot } from './paths.js';

type Tree = { [key: string]: unknown };

/** Environment variables of the form DPC_SECTION__KEY override configuration keys. */
const ENV_KEY = /^DPC_[A-Z0-9]+__/;
const SECRET_KEY = /password|secret|token/i;

export interface LoadOptions {
  /** A JSON file whose keys override the defaults (from `--config` or `DPC_CONFIG`). */
  file?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * The effective configuration: defaults, then the file, then the environment; secrets
 * read from their files. Anything wrong throws DPC_CONFIG naming the key, the value and
 * what was expected, so start-up can stop with one clear line.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const defaults = readJson(resolve(projectRoot, 'config/default.json'));
  const merged = structuredClone(defaults);
  const file = options.file ?? env.DPC_CONFIG;
  if (file) mergeFile(merged, defaults, readJson(file), '');
  for (const [name, value] of Object.entries(env)) {
    if (ENV_KEY.test(name) && value !== undefined) applyEnv(merged, name, value);
  }
  readSecretFiles(merged, '');
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) throw coreErrors.config(describeIssue(parsed.error.issues[0], merged, (path, got) => (SECRET_KEY.test(path) && !path.endsWith('File') ? '(secret)' : JSON.stringify(got))));
  return parsed.data;
}

/** A copy fit to show or log: every secret is masked, and so is whether it is set. */
export function maskSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map(maskSecrets) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Tree = {};
  for (const [key, inner] of Object.entries(value as Tree)) {
    out[key] = SECRET_KEY.test(key) && !key.endsWith('File') && typeof inner === 'string' ? '****' : maskSecrets(inner);
  }
  return out as T;
}

function readJson(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw coreErrors.config(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return value as Tree;
  } catch (err) {
    throw coreErrors.config(`${file} is not a JSON object: ${(err as Error).message}`);
  }
}

function mergeFile(target: Tree, defaults: Tree, overrides: Tree, prefix: string): void {
  for (const [key, value] of Object.entries(overrides)) {
    const path = prefix + key;
    if (!(key in defaults)) throw coreErrors.config(`unknown key ${path}`);
    const base = defaults[key];
    if (isTree(base) && isTree(value)) mergeFile(target[key] as Tree, base, value, `${path}.`);
    else target[key] = value;
  }
}

function applyEnv(target: Tree, name: string, raw: string): void {
  const parts = name.slice('DPC_'.length).split('__');
  let node = target;
  const path: string[] = [];
  for (const [i, part] of parts.entries()) {
    const key = Object.keys(node).find((k) => k.toLowerCase() === part.toLowerCase());
    if (key === undefined) throw coreErrors.config(`unknown key ${[...path, part.toLowerCase()].join('.')} (from ${name})`);
    path.push(key);
    if (i === parts.length - 1) node[key] = fromEnv(node[key], raw);
    else if (isTree(node[key])) node = node[key] as Tree;
    else throw coreErrors.config(`unknown key ${[...path, ...parts.slice(i + 1)].join('.').toLowerCase()} (from ${name})`);
  }
}

/**
 * Environment values are text: read them as the type the key already has. Only plain
 * decimals count as numbers: Number() would also take "0x1F", "1e3" and "Infinity".
 */
function fromEnv(current: unknown, raw: string): unknown {
  if (typeof current === 'number') return /^\s*-?\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : raw;
  if (typeof current === 'boolean') return raw === 'true' ? true : raw === 'false' ? false : raw;
  return raw;
}

function readSecretFiles(node: Tree, prefix: string): void {
  for (const [key, value] of Object.entries(node)) {
    if (isTree(value)) readSecretFiles(value, `${prefix}${key}.`);
    else if (key.endsWith('File') && SECRET_KEY.test(key) && typeof value === 'string' && value !== '') {
      const secretKey = key.slice(0, -'File'.length);
      try {
        node[secretKey] = readFileSync(value, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        throw coreErrors.config(`${prefix}${key}: cannot read ${value}: ${(err as NodeJS.ErrnoException).code ?? err}`);
      }
    }
  }
}

function isTree(value: unknown): value is Tree {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
