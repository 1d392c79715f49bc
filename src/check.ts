// `package-scheduler check`: is everything in place, and what would a tick do now?
import { ConfigError } from './errors.js';
import type { Queryable } from './db.js';
import type { QualifiedName } from './identifiers.js';
import { silentLogger } from './logger.js';
import { activationIndexName, deactivationIndexName } from './sql/migration-sql.js';
import { resolvePackagesTable } from './table.js';
import { runTick, type ExpiryMode, type TickCompleted } from './tick.js';

export interface CheckOptions {
  table: QualifiedName;
  timezone: string;
  expiry: ExpiryMode;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
}

export interface MisconfiguredRow {
  packageId: string;
  problem: string;
}

export interface CheckReport {
  table: string;
  timezone: string;
  indexes: { name: string; state: 'valid' | 'invalid' | 'missing' }[];
  warnings: string[];
  due: TickCompleted;
  misconfigured: MisconfiguredRow[];
  misconfiguredCount: number;
}

const MISCONFIGURED_LIMIT = 100;

/** Throws ConfigError (78) for problems a tick would fail on; warns for the rest. */
export async function check(client: Queryable, options: CheckOptions): Promise<CheckReport> {
  const { rows: zone } = await client.query<{ known: boolean }>(
    'SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1::text) AS known',
    [options.timezone],
  );
  if (!zone[0]?.known) throw new ConfigError(`unknown time zone "${options.timezone}" (not in pg_timezone_names)`);

  const table = await resolvePackagesTable(client, options.table);
  const display = `${table.schema}.${table.name}`;
  const warnings: string[] = [];

  const indexes: CheckReport['indexes'] = [];
  for (const name of [activationIndexName(table), deactivationIndexName(table)]) {
    const { rows } = await client.query<{ valid: boolean }>(
      `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = $1::text AND i.indrelid = $2::regclass`,
      [name, table.quoted],
    );
    const state = rows[0] === undefined ? 'missing' : rows[0].valid ? 'valid' : 'invalid';
    indexes.push({ name, state });
    if (state !== 'valid') warnings.push(`index ${name} is ${state}: ticks scan the whole table; run "package-scheduler migrate"`);
  }
  if (!table.hasUpdatedAt) warnings.push(`${display} has no updated_at timestamp column: changes are not stamped`);

  const misconfiguredSql = `
    SELECT p.${table.keyColumn}::text AS package_id, problem, count(*) OVER () AS total
      FROM ${table.quoted} AS p,
           LATERAL (VALUES
             (CASE WHEN p.scheduled AND p.schedule_date IS NULL
                   THEN 'scheduled without schedule_date: it will never be activated' END),
             (CASE WHEN p.scheduled AND p.schedule_date IS NOT NULL AND p.auto_activate IS NOT TRUE
                   THEN 'scheduled but auto_activate is off: it will not be activated automatically' END),
             (CASE WHEN p.auto_deactivate AND p.valid_until IS NULL
                   THEN 'auto_deactivate without valid_until: it will never be deactivated' END)
           ) AS problems(problem)
     WHERE problem IS NOT NULL
     ORDER BY p.${table.keyColumn}
     LIMIT ${MISCONFIGURED_LIMIT}`;
  const { rows: bad } = await client.query<{ package_id: string; problem: string; total: string }>(misconfiguredSql);

  const due = (await runTick(client, { ...options, dryRun: true }, silentLogger)) as TickCompleted;
  return {
    table: display,
    timezone: options.timezone,
    indexes,
    warnings,
    due,
    misconfigured: bad.map((r) => ({ packageId: r.package_id, problem: r.problem })),
    misconfiguredCount: bad.length === 0 ? 0 : Number(bad[0]!.total),
  };
}
