// The real tick on a table Citus manages: the same rules and one transaction (Citus commits a
// transaction that wrote on several nodes with two-phase commit), statements Citus can run.
// A distributed table: one read-only statement finds the shards with due rows, then one tick
// statement per such shard, each routed to its shard, where FOR NO KEY UPDATE SKIP LOCKED
// works. A no-op tick is the one read; the statements are bounded by the shard count, never
// by the due rows. Any other Citus table (a distributed schema's, single-shard, Citus-local)
// is one shard: one statement, as on plain PostgreSQL.
import { ConfigError } from '../errors.js';
import { query } from '../db/resources.js';
import type { Statement } from '../db/params.js';
import type { ChangeSpool } from '../tick/change-spool.js';
import { collect, tickClock, type Changes, type TickContext } from '../tick/context.js';
import type { EventRecording } from '../tick/tick-sql.js';
import { withUnknownZonesLeftOut } from '../tick/zone-guard.js';
import { displayName } from '../db/sql-fragments.js';
import type { PackagesTable } from '../table/packages-table.js';
import { citusApplyStatement, dueShardsStatement } from './tick-sql.js';
import type { CitusTopology } from './topology.js';

export async function applyOnCitus(tick: TickContext<ChangeSpool>, topology: CitusTopology, recording?: EventRecording): Promise<Changes> {
  const { table, options } = tick;
  const { value, unknown } = await withUnknownZonesLeftOut(tick, async (unknownZones) => {
    const clock = tickClock(tick, unknownZones);
    if (topology.kind !== 'distributed') return collect(tick, [citusApplyStatement(table, options.expiry, clock, recording)]);
    const column = topology.distributionColumn!;
    const type = topology.distributionType!;
    const { rows } = await query<{ values: string[] }>(tick.client, dueShardsStatement(table, options.expiry, clock, column));
    const statements: Statement[] = rows.map((row) => citusApplyStatement(table, options.expiry, clock, recording, { column, type, values: row.values }));
    return collect(tick, statements);
  });
  value.result.timezoneUnknown = unknown;
  return value;
}

/**
 * What a run cannot do on Citus, as one line for exit 78. `tick`: a real run, which takes the
 * one-run-per-table advisory lock.
 */
export function citusProblem(table: PackagesTable, topology: CitusTopology | undefined, tick: boolean): ConfigError | undefined {
  if (!topology) return undefined;
  const name = displayName(table);
  if (topology.kind === 'reference') {
    return new ConfigError(
      `${name} is a Citus reference table: a row lock there locks its whole shard on every node, so a tick could not skip ` +
        `a package an admin is editing and would wait on it; distribute it (SELECT create_distributed_table('${name}', '<tenant column>')) or undistribute it (undistribute_table)`,
    );
  }
  if (tick && !topology.coordinator) {
    return new ConfigError(
      'connected to a Citus worker node: connect to the coordinator (the one-run-per-table lock is an advisory lock, which holds only on the node it is taken on)',
    );
  }
  if (topology.kind === 'distributed' && table.citusZoneTable?.kind === 'distributed') {
    return new ConfigError(
      `${name}: its zones come from ${table.zone?.description}, another distributed table; Citus cannot lock the packages' rows in a ` +
        `join with it (0A000), so no tick could run: make that table a reference table (create_reference_table), or keep the zone in a column of ${name}`,
    );
  }
  if (topology.kind === 'distributed' && !table.keyNames.includes(topology.distributionColumn!)) {
    return new ConfigError(`${name}: its key (${table.keyNames.join(', ')}) does not hold the distribution column ${topology.distributionColumn}`);
  }
  return undefined;
}
