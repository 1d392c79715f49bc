// Rows no tick will ever handle the way their owner probably meant.
import type { Queryable } from '../db/resources.js';
import { keyListSql, packageIdSql } from '../table/key-sql.js';
import type { PackagesTable } from '../table/packages-table.js';

export interface MisconfiguredRow {
  packageId: string;
  problem: string;
}

const LIMIT = 100;

export async function findMisconfigured(
  client: Queryable,
  table: PackagesTable,
): Promise<{ rows: MisconfiguredRow[]; total: number }> {
  const { rows } = await client.query<{ package_id: string; problem: string; total: string }>(`
    SELECT ${packageIdSql(table)} AS package_id, problem, count(*) OVER () AS total
      FROM ${table.quoted} AS p,
           LATERAL (VALUES
             (CASE WHEN p.scheduled AND p.schedule_date IS NULL
                   THEN 'scheduled without schedule_date: it will never be activated' END),
             (CASE WHEN p.scheduled AND p.schedule_date IS NOT NULL AND p.auto_activate IS NOT TRUE
                   THEN 'scheduled but auto_activate is off: it will not be activated automatically' END),
             (CASE WHEN p.scheduled AND p.auto_activate AND NOT isfinite(p.schedule_date)
                   THEN CASE WHEN p.schedule_date > date 'epoch' THEN 'schedule_date is infinity' ELSE 'schedule_date is -infinity' END
                        || ': it will never be activated (set the date it is due on)' END),
             (CASE WHEN p.auto_deactivate AND p.valid_until IS NULL
                   THEN 'auto_deactivate without valid_until: it will never be deactivated' END)
           ) AS problems(problem)
     WHERE problem IS NOT NULL
     ORDER BY ${keyListSql(table)}
     LIMIT ${LIMIT}`);
  return {
    rows: rows.map((r) => ({ packageId: r.package_id, problem: r.problem })),
    total: rows.length === 0 ? 0 : Number(rows[0]!.total),
  };
}
