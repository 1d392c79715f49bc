// What Citus does with the packages table, read from its catalog (pg_dist_partition,
// pg_dist_shard, pg_dist_schema) once per run, only where the citus extension is installed:
// resolvePackagesTable's catalog query says whether it is, so a plain PostgreSQL server pays no
// extra statement for this.
import type { Queryable } from '../db/resources.js';

/**
 * - distributed: hash-distributed by a column, shards spread over the workers;
 * - schema: a table of a distributed schema (schema-based sharding): one shard, on one node;
 * - single-shard: distributed without a distribution column (one shard), outside a distributed schema;
 * - reference: copied to every node;
 * - citus-local: a local table Citus has added to its metadata (its one shard is on the coordinator);
 * - local: a plain table of the node connected to, unknown to Citus.
 */
export type CitusTableKind = 'distributed' | 'schema' | 'single-shard' | 'reference' | 'citus-local' | 'local';

export interface CitusTopology {
  kind: CitusTableKind;
  /** The distribution column (unquoted), for `distributed`. */
  distributionColumn?: string;
  /** Its type, as format_type() spells it with its modifier: char(8), not character, whose cast
   * would cut every value to one character. */
  distributionType?: string;
  shardCount: number;
  /** Whether the connection is to the coordinator (citus_is_coordinator()). */
  coordinator: boolean;
}

interface TopologyRow {
  partmethod: string | null;
  repmodel: string | null;
  colocationid: number | null;
  in_distributed_schema: boolean;
  distribution_column: string | null;
  distribution_type: string | null;
  shard_count: number;
  coordinator: boolean;
}

// One round trip. column_to_column_name turns the stored partition key into a name; the
// coordinator test is citus_is_coordinator() (a worker's group id is not 0).
const TOPOLOGY_SQL = `
SELECT p.partmethod::text AS partmethod, p.repmodel::text AS repmodel, p.colocationid,
       EXISTS (SELECT 1 FROM pg_dist_schema s JOIN pg_class c ON c.relnamespace = s.schemaid WHERE c.oid = $1::regclass) AS in_distributed_schema,
       CASE WHEN p.partmethod = 'h' THEN column_to_column_name(p.logicalrelid, p.partkey) END AS distribution_column,
       CASE WHEN p.partmethod = 'h' THEN (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                                            WHERE a.attrelid = p.logicalrelid AND a.attname = column_to_column_name(p.logicalrelid, p.partkey)) END AS distribution_type,
       (SELECT count(*)::int FROM pg_dist_shard s WHERE s.logicalrelid = $1::regclass) AS shard_count,
       citus_is_coordinator() AS coordinator
  FROM (SELECT 1) AS one
  LEFT JOIN pg_dist_partition p ON p.logicalrelid = $1::regclass`;

/** The table's place in the cluster; `quoted` is its quoted, schema-qualified name. */
export async function citusTopology(client: Queryable, quoted: string): Promise<CitusTopology> {
  const row = (await client.query<TopologyRow>(TOPOLOGY_SQL, [quoted])).rows[0]!;
  const base = { shardCount: row.shard_count, coordinator: row.coordinator };
  if (row.partmethod === null) return { kind: 'local', ...base };
  if (row.partmethod === 'h') {
    return { kind: 'distributed', distributionColumn: row.distribution_column!, distributionType: row.distribution_type!, ...base };
  }
  if (row.repmodel === 't') return { kind: 'reference', ...base };
  if (row.in_distributed_schema) return { kind: 'schema', ...base };
  return { kind: row.colocationid ? 'single-shard' : 'citus-local', ...base };
}

/** One line for check: `distributed by salon_id, 8 shards`. */
export function describeTopology(topology: CitusTopology): string {
  const shards = `${topology.shardCount} shard${topology.shardCount === 1 ? '' : 's'}`;
  const node = topology.coordinator ? '' : ', connected to a worker node';
  switch (topology.kind) {
    case 'distributed':
      return `Citus distributed table, by ${topology.distributionColumn}, ${shards}${node}`;
    case 'schema':
      return `Citus distributed schema (schema-based sharding), ${shards}${node}`;
    case 'single-shard':
      return `Citus single-shard distributed table${node}`;
    case 'reference':
      return `Citus reference table, ${shards}${node}`;
    case 'citus-local':
      return `Citus local table (in Citus metadata, on the coordinator)${node}`;
    case 'local':
      return `local table of this node (not distributed by Citus)${node}`;
  }
}

/** Whether the tick needs the Citus form of its statement (any table Citus manages). */
export function managedByCitus(topology: CitusTopology | undefined): topology is CitusTopology {
  return topology !== undefined && topology.kind !== 'local';
}
