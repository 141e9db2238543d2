import type { z } from 'zod';

/**
 * One line an operator reads for a value a zod schema refused (a configuration key, a request
 * body's field): the dotted path, what it must be, and what it got. `show` writes the value
 * (the configuration masks its secrets with it).
 */
export function describeIssue(issue: z.core.$ZodIssue, input: unknown, show: (path: string, value: unknown) => string = (_p, v) => JSON.stringify(v)): string {
  const path = issue.path.map(String).join('.');
  const got = issue.path.reduce<unknown>((node, key) => (isTree(node) ? node[String(key)] : undefined), input);
  const shown = show(path, got);
  switch (issue.code) {
    case 'unrecognized_keys':
      return `unknown key ${[path, issue.keys[0]].filter(Boolean).join('.')}`;
    case 'invalid_value':
      return `${path} must be one of ${issue.values.join(', ')}; got ${shown}`;
    case 'invalid_type':
      // Zod calls a non-integer number "an int"; an operator reads "a whole number".
      return `${path} must be ${issue.expected === 'int' ? 'a whole number' : article(issue.expected)}; got ${got === undefined ? 'nothing' : shown}`;
    case 'too_small':
      // For text the bound is a length, not a value.
      if (issue.origin === 'string') return `${path} must ${Number(issue.minimum) === 1 ? 'not be empty' : `have at least ${issue.minimum} characters`}; got ${shown}`;
      if (issue.origin === 'array') return `${path} must have at least ${issue.minimum} item(s)`;
      return `${path} must be at least ${issue.minimum}; got ${shown}`;
    case 'too_big':
      if (issue.origin === 'string') return `${path} must have at most ${issue.maximum} characters; got ${typeof got === 'string' ? `${got.length}` : shown}`;
      if (issue.origin === 'array') return `${path} must have at most ${issue.maximum} item(s); got ${Array.isArray(got) ? got.length : shown}`;
      return `${path} must be at most ${issue.maximum}; got ${shown}`;
    case 'invalid_format':
      // The schema words its patterns as what the value must be ("a lower-case SQL identifier").
      return `${path} must be ${/^Invalid/.test(issue.message) ? `text matching ${issue.pattern ?? issue.format}` : issue.message}; got ${shown}`;
    default:
      return `${path} ${issue.message.replace(/^Invalid input: /, '').toLowerCase()}; got ${shown}`;
  }
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function isTree(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
