// Table names come from flags and environment variables. They are parsed here with
// PostgreSQL's own rules, resolved by the server (to_regclass) and only ever reach SQL
// through quoteIdent, so no input can change the shape of a statement.

export interface QualifiedName {
  schema?: string;
  name: string;
}

const UNQUOTED = /^[A-Za-z_][A-Za-z0-9_$]*$/;
export const MAX_IDENTIFIER_BYTES = 63;

/**
 * Parses `name`, `schema.name`, or their double-quoted forms (`"My Table"`, `"a""b"`).
 * Unquoted parts are folded to lower case as PostgreSQL does; unquoted parts must be plain
 * ASCII identifiers, so look-alike letters, quotes, semicolons and comments are refused.
 * Returns an error message instead of throwing, so the caller can name the flag.
 */
export function parseQualifiedName(input: string): QualifiedName | string {
  const parts = parseIdentifiers(input, 2);
  if (typeof parts === 'string') return parts === TOO_MANY ? 'expected "table" or "schema.table"' : parts;
  return parts.length === 1 ? { name: parts[0]! } : { schema: parts[0]!, name: parts[1]! };
}

/** A column, optionally of another table: `column`, `table.column` or `schema.table.column`. */
export interface ColumnRef {
  table?: QualifiedName;
  column: string;
}

export function parseColumnRef(input: string): ColumnRef | string {
  const parts = parseIdentifiers(input, 3);
  if (typeof parts === 'string') return parts === TOO_MANY ? 'expected "column", "table.column" or "schema.table.column"' : parts;
  const column = parts.pop()!;
  if (parts.length === 0) return { column };
  return { table: parts.length === 1 ? { name: parts[0]! } : { schema: parts[0]!, name: parts[1]! }, column };
}

const TOO_MANY = 'too many parts';

/** Dot-separated identifiers, each plain or double-quoted; at most `max` of them. */
function parseIdentifiers(input: string, max: number): string[] | string {
  const parts = parseIdentifierParts(input, max, UNQUOTED);
  return typeof parts === 'string' ? parts : parts.map((p) => p.text);
}

/** One dot-separated part as written: its text (folded when unquoted) and whether it was quoted. */
export interface IdentifierPart {
  text: string;
  quoted: boolean;
}

/**
 * The parser behind parseQualifiedName, with the rule for unquoted parts given: table
 * patterns (tenants/patterns.ts) allow `*` in them, and need to know which parts were quoted.
 */
export function parseIdentifierParts(input: string, max: number, unquoted: RegExp = UNQUOTED): IdentifierPart[] | string {
  const parts: IdentifierPart[] = [];
  let i = 0;
  while (i <= input.length) {
    let part: string;
    const quoted = input[i] === '"';
    if (quoted) {
      let j = i + 1;
      part = '';
      for (;;) {
        if (j >= input.length) return `unterminated quoted identifier in "${input}"`;
        if (input[j] === '"') {
          if (input[j + 1] === '"') {
            part += '"';
            j += 2;
            continue;
          }
          break;
        }
        part += input[j];
        j++;
      }
      if (part.length === 0) return 'empty quoted identifier';
      if (/[\u0000-\u001f]/.test(part)) return 'identifiers may not contain control characters';
      i = j + 1;
    } else {
      const end = input.indexOf('.', i);
      const raw = end === -1 ? input.slice(i) : input.slice(i, end);
      if (!unquoted.test(raw)) {
        return `"${raw}" is not a plain identifier (letters, digits, _ and $; double-quote anything else)`;
      }
      part = raw.toLowerCase();
      i += raw.length;
    }
    if (Buffer.byteLength(part) > MAX_IDENTIFIER_BYTES) return `identifier "${part}" is longer than 63 bytes`;
    parts.push({ text: part, quoted });
    if (i === input.length) break;
    if (input[i] !== '.') return `unexpected character after identifier in "${input}"`;
    i++;
  }
  return parts.length > max ? TOO_MANY : parts;
}

export const TOO_MANY_PARTS = TOO_MANY;

export function quoteIdent(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}

export function quoteQualified(name: QualifiedName): string {
  return name.schema === undefined ? quoteIdent(name.name) : `${quoteIdent(name.schema)}.${quoteIdent(name.name)}`;
}

/**
 * The longest prefix of `identifier` within `bytes` bytes of UTF-8, never splitting a
 * character: how PostgreSQL truncates a name that is too long (NAMEDATALEN - 1 = 63).
 */
export function clipIdentifier(identifier: string, bytes: number): string {
  let out = '';
  let used = 0;
  for (const char of identifier) {
    used += Buffer.byteLength(char);
    if (used > bytes) break;
    out += char;
  }
  return out;
}
