// The migration's partial indexes, for a plain table (CREATE INDEX CONCURRENTLY) or a
// partitioned one (ON ONLY the parent, each partition CONCURRENTLY, then ATTACH PARTITION:
// PostgreSQL's documented way to index a partitioned table without a long lock).
import type { Queryable } from '../db/resources.js';
import { quoteQualified, type QualifiedName } from '../table/identifiers.js';
import { ConfigError } from '../errors.js';
import { findIndex, indexState } from './index-state.js';
import { attachIndexSql, createIndexSql, indexName, INDEXES, type IndexSpec } from './migration-sql.js';
import { Params } from '../db/params.js';

type Table = Required<QualifiedName>;

export interface BuiltIndexes {
  created: string[];
  rebuilt: string[];
}

/** `ddl` runs a statement in a short transaction with the migration's lock_timeout. */
export async function ensureIndexes(
  client: Queryable,
  table: Table,
  partitioned: boolean,
  ddl: (sql: string) => Promise<unknown>,
): Promise<BuiltIndexes> {
  const built: BuiltIndexes = { created: [], rebuilt: [] };
  for (const spec of INDEXES) {
    await ensureIndex(client, table, partitioned, spec, ddl, built);
  }
  return built;
}

/**
 * Makes sure `table` has a valid index for `spec` (found by its definition, see findIndex);
 * returns that index's name. `attached`: the partition's index already attached to the parent's.
 */
async function ensureIndex(
  client: Queryable,
  table: Table,
  partitioned: boolean,
  spec: IndexSpec,
  ddl: (sql: string) => Promise<unknown>,
  built: BuiltIndexes,
  attached?: string,
): Promise<string> {
  const found = attached === undefined ? await findIndex(client, table, spec) : { name: attached, state: await indexState(client, table.schema, attached) };
  if (found.state === 'valid') return found.name;
  if (!partitioned) {
    if (found.state === 'invalid') {
      // An interrupted CONCURRENTLY build leaves an INVALID index that IF NOT EXISTS would keep.
      await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${quoteQualified({ schema: table.schema, name: found.name })}`);
      built.rebuilt.push(found.name);
    }
    await client.query(createIndexSql(table, spec, 'concurrently'));
    const made = await findIndex(client, table, spec);
    // IF NOT EXISTS skips, with only a NOTICE, when another relation already has the name.
    if (made.state !== 'valid') {
      throw new ConfigError(`index ${made.name} was not built: another relation in schema ${table.schema} has that name; rename that one`);
    }
    built.created.push(made.name);
    return made.name;
  }
  // Partitioned: an invalid parent index just means some partitions are not attached yet.
  let name = found.name;
  if (found.state === 'missing') {
    await ddl(createIndexSql(table, spec, 'only'));
    name = indexName(table, spec);
    built.created.push(name);
  }
  for (const partition of await partitionsOf(client, table, name)) {
    const child = { schema: partition.schema, name: partition.name };
    const childIndex = await ensureIndex(client, child, partition.partitioned, spec, ddl, built, partition.attached ?? undefined);
    if (partition.attached === null) {
      await ddl(attachIndexSql({ schema: table.schema, name }, { schema: partition.schema, name: childIndex }));
    }
  }
  return name;
}

interface Partition {
  schema: string;
  name: string;
  partitioned: boolean;
  /** The partition's index already attached to the parent's index, if any. */
  attached: string | null;
}

async function partitionsOf(client: Queryable, table: Table, parentIndex: string): Promise<Partition[]> {
  const params = new Params();
  const parent = params.add(quoteQualified(table), 'text');
  const index = params.add(quoteQualified({ schema: table.schema, name: parentIndex }), 'text');
  const { rows } = await client.query<Partition>(
    `SELECT n.nspname AS schema, c.relname AS name, c.relkind = 'p' AS partitioned,
            (SELECT ci.relname FROM pg_inherits ii
               JOIN pg_index x ON x.indexrelid = ii.inhrelid
               JOIN pg_class ci ON ci.oid = x.indexrelid
              WHERE ii.inhparent = to_regclass(${index}) AND x.indrelid = c.oid) AS attached
       FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE i.inhparent = to_regclass(${parent})
      ORDER BY n.nspname, c.relname`,
    params.values,
  );
  return rows;
}
