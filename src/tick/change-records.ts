// The change records: one line of text per change, built by the database, read back here.
import type { PackagesTable } from '../table/packages-table.js';
import { carriedKeySql } from '../table/key-sql.js';

/** What each change is: the order of the log lines (all activations, then skips, then deactivations). */
export const ChangeKind = { activated: 1, activationSkipped: 2, deactivated: 3 } as const;
export type ChangeKind = (typeof ChangeKind)[keyof typeof ChangeKind];

/**
 * One row per change, grouped by kind and in key order within a kind. A row can make two
 * changes (an expired schedule consumed, and the package switched off). The database builds
 * each change as one line of text (the kind's digit, then its fields), so the tick does no per-row work before COMMIT
 * beyond counting, and the record waits in a spool as it came (change-spool.ts). The format is
 * COPY's text format: tab-separated, \N for NULL, and \\, \t, \n escaped (parseChangeRecord).
 * Not JSON: V8's JSON.parse interns short strings (every package id), which a million-row tick
 * would pile up in the heap.
 */
const NULL_TEXT = `chr(92) || 'N'`;

export function changeRecordsSql(table: PackagesTable): string {
  return `SELECT a.kind::text ||
       concat_ws(chr(9), ${copyText('c.package_id')}, ${copyText('c.name')}, coalesce(c.due_at, ${NULL_TEXT}),
                 coalesce(c.late_seconds::text, ${NULL_TEXT}), coalesce(c.valid_until, ${NULL_TEXT}), ${copyText('c.timezone')},
                 coalesce(c.late_ms::text, ${NULL_TEXT})) AS record
  FROM changed AS c
 CROSS JOIN LATERAL (VALUES (${ChangeKind.activated}, c.activate),
                            (${ChangeKind.activationSkipped}, c.skip_activation),
                            (${ChangeKind.deactivated}, c.deactivate)) AS a(kind, applies)
 WHERE a.applies
 ORDER BY a.kind, ${carriedKeySql(table, 'c', 'sort_')}`;
}

/**
 * A text expression in COPY's text format. chr() rather than backslash literals, whose meaning
 * depends on standard_conforming_strings. due_at and valid_until need no escaping (to_char, infinity).
 */
function copyText(expression: string): string {
  // COLLATE "C": replace() refuses a text of a nondeterministic (case-insensitive) collation,
  // which a CRM may give its name or zone column.
  return `coalesce(replace(replace(replace((${expression}) COLLATE "C", chr(92), chr(92) || chr(92)), chr(9), chr(92) || 't'), chr(10), chr(92) || 'n'), ${NULL_TEXT})`;
}

/** A row of the tick statement, as pg returns it in array mode: the kind's digit, then the record. */
export type ChangeRow = [line: string];

/**
 * A change record, parsed: the zone is NULL without per-row zones (the default zone). The last
 * field, the lateness in milliseconds (lateMsOf), is read only for tick.completed's maxLateMs.
 */
export type ChangeRecord = [packageId: string, name: string | null, dueAt: string | null, lateSeconds: number | null, validUntil: string | null, timezone: string | null];

const ESCAPED = /\\(.)/g;
const UNESCAPE: Record<string, string> = { '\\': '\\', t: '\t', n: '\n' };

function field(text: string | undefined): string | null {
  if (text === undefined || text === '\\N') return null;
  return text.includes('\\') ? text.replace(ESCAPED, (_, c: string) => UNESCAPE[c] ?? c) : text;
}

/** A record line (changeRecordsSql) back as its fields. */
export function parseChangeRecord(record: string): ChangeRecord {
  const f = record.split('\t');
  const late = field(f[3]);
  return [field(f[0]) ?? '', field(f[1]), field(f[2]), late === null ? null : Number(late), field(f[4]), field(f[5])];
}

/** A record line's last field: milliseconds late (NULL: no finite due instant). */
export function lateMsOf(record: string): number | null {
  const text = record.slice(record.lastIndexOf('\t') + 1);
  return text === '\\N' ? null : Number(text);
}
