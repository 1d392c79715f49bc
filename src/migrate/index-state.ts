// Whether one of the migration's indexes is there and usable. An interrupted CREATE INDEX
// CONCURRENTLY leaves an INVALID index that the planner ignores.
import type { Queryable } from '../db/resources.js';
import { quoteIdent } from '../table/identifiers.js';

export type IndexState = 'valid' | 'invalid' | 'missing';

export async function indexState(client: Queryable, schema: string, name: string): Promise<IndexState> {
  const { rows } = await client.query<{ valid: boolean }>(
    `SELECT i.indisvalid AS valid
       FROM pg_class c
       JOIN pg_index i ON i.indexrelid = c.oid
      WHERE c.relname = $1::text AND c.relnamespace = to_regnamespace($2::text)`,
    [name, quoteIdent(schema)],
  );
  return rows[0] === undefined ? 'missing' : rows[0].valid ? 'valid' : 'invalid';
}
