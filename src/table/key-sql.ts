// SQL over a package's key (all its columns): its id as text, and carrying the key through
// the tick statement's CTEs.
import type { PackagesTable } from './packages-table.js';

/**
 * The package's id as text, as logs, history, notifications and reports show it: the key
 * column's value, or with a composite key the key as a row, `(1,7)` for (salon_id, id) = (1, 7):
 * one text per row, never the same for two rows, and the values an admin knows, in key order.
 */
export function packageIdSql(table: Pick<PackagesTable, 'key'>, alias = 'p'): string {
  return table.key.length === 1 ? `${alias}.${table.key[0]}::text` : `ROW(${keyListSql(table, alias)})::text`;
}

/** The package's id and name (NULL when the table has no name column), as text. */
export function packageIdAndNameSql(table: PackagesTable, alias = 'p'): string {
  return `${packageIdSql(table, alias)} AS package_id, ${table.nameColumn ? `${alias}.${table.nameColumn}::text` : 'NULL::text'} AS name`;
}

/** The key's columns of `alias`, comma-separated (for ORDER BY: key order). */
export function keyListSql(table: Pick<PackagesTable, 'key'>, alias = 'p'): string {
  return table.key.map((column) => `${alias}.${column}`).join(', ');
}

/** The key's columns of `alias` as `<prefix>1, <prefix>2, …`, to carry a row's key through CTEs. */
export function keyColumnsSql(table: Pick<PackagesTable, 'key'>, alias: string, prefix: string): string {
  return table.key.map((column, i) => `${alias}.${column} AS ${prefix}${i + 1}`).join(', ');
}

/** Row `alias` is the row whose key keyColumnsSql carried as `<other>.<prefix>1, …`. */
export function keyMatchSql(table: Pick<PackagesTable, 'key'>, alias: string, other: string, prefix: string): string {
  return table.key.map((column, i) => `${alias}.${column} = ${other}.${prefix}${i + 1}`).join(' AND ');
}

/** `<alias>.<prefix>1, …`: the carried key, for ORDER BY. */
export function carriedKeySql(table: Pick<PackagesTable, 'key'>, alias: string, prefix: string): string {
  return table.key.map((_, i) => `${alias}.${prefix}${i + 1}`).join(', ');
}
