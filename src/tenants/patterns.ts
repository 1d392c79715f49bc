// Table lists and patterns: `--table 'tenant_*.special_packages'`, `--table 'crm.*_packages'`,
// `SCHEDULER_TABLE=a,b`. A name without an unquoted `*` is a literal and is parsed exactly as
// before (parseQualifiedName, resolved by to_regclass on the search_path); a pattern becomes
// LIKE patterns that only ever reach SQL as parameters.
import { parseIdentifierParts, parseQualifiedName, TOO_MANY_PARTS, type IdentifierPart, type QualifiedName } from '../table/identifiers.js';

export type TableEntry =
  | { kind: 'literal'; text: string; table: QualifiedName }
  /** LIKE patterns (backslash escapes); no schema: the tables visible on the search_path. */
  | { kind: 'pattern'; text: string; schemaLike?: string; nameLike: string };

// Unquoted parts of a pattern: an identifier in which `*` may stand for any run of characters.
const UNQUOTED_PATTERN = /^[A-Za-z_*][A-Za-z0-9_$*]*$/;

/** Splits a list on the commas outside double quotes (a quoted name may contain one). */
export function splitList(value: string): string[] {
  const items: string[] = [];
  let current = '';
  let quoted = false;
  for (const char of value) {
    if (char === '"') quoted = !quoted;
    if (char === ',' && !quoted) {
      items.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  items.push(current);
  return items.map((item) => item.trim());
}

/** One list item: a literal table name or a pattern; an error message when it is neither. */
export function parseTableEntry(text: string): TableEntry | string {
  if (text === '') return 'empty table name in the list';
  const parts = parseIdentifierParts(text, 2, UNQUOTED_PATTERN);
  if (typeof parts === 'string') return parts === TOO_MANY_PARTS ? 'expected "table" or "schema.table"' : parts;
  if (!parts.some(isWildcard)) {
    const table = parseQualifiedName(text);
    return typeof table === 'string' ? table : { kind: 'literal', text, table };
  }
  for (const part of parts) {
    if (isWildcard(part) && part.text.includes('**')) return `"${part.text}": "**" is not a pattern (one * already matches any run of characters)`;
  }
  const like = parts.map(toLike);
  return like.length === 1 ? { kind: 'pattern', text, nameLike: like[0]! } : { kind: 'pattern', text, schemaLike: like[0]!, nameLike: like[1]! };
}

function isWildcard(part: IdentifierPart): boolean {
  return !part.quoted && part.text.includes('*');
}

/** LIKE with backslash escapes: `_` and `%` are literal in names; only an unquoted `*` matches anything. */
function toLike(part: IdentifierPart): string {
  const escaped = part.text.replace(/[\\%_]/g, (c) => `\\${c}`);
  return part.quoted ? escaped : escaped.replace(/\*/g, '%');
}

/** Whether a selection needs the many-tables path: more than one entry, or any pattern. */
export function isSingleLiteral(entries: readonly TableEntry[]): entries is [Extract<TableEntry, { kind: 'literal' }>] {
  return entries.length === 1 && entries[0]!.kind === 'literal';
}
