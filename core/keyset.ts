import type { Knex } from 'knex';

/**
 * Keyset paging, newest first, on an order of two columns (a time, then the id that breaks
 * its ties): the rows strictly after `key` in `(first desc, id desc)`. Written without a
 * row-value comparison, which Oracle lacks, and with `first <= ?` standing alone so that an
 * index led by `first` (or by an equality filter, then `first`) starts its walk at the key.
 */
export function olderThan(q: Knex.QueryBuilder, first: string, id: string, key: { first: number; id: number }): Knex.QueryBuilder {
  return q.where(first, '<=', key.first).andWhere((w) => w.where(first, '<', key.first).orWhere(id, '<', key.id));
}

/** A page of rows by time, newest first: ordered by (created desc, id desc), at most `limit`, after `after` when given. */
export function newestFirst(q: Knex.QueryBuilder, limit: number, after: { created: number; id: number } | null): Knex.QueryBuilder {
  q.orderBy([
    { column: 'created', order: 'desc' },
    { column: 'id', order: 'desc' },
  ]).limit(limit);
  return after === null ? q : olderThan(q, 'created', 'id', { first: after.created, id: after.id });
}

/** A LIKE pattern that finds `text` anywhere, its own % _ and \ taken literally (with `escape '\'`). */
export function containsPattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * The key of the row a page follows, from the row the link named (its time and id); a row
 * retention took since the link was made leaves its id, and the page goes on from there.
 */
export function keyAfter(found: { created: unknown; id: unknown } | undefined, id: number): { created: number; id: number } {
  return found ? { created: Number(found.created), id: Number(found.id) } : { created: Number.MAX_SAFE_INTEGER, id };
}
