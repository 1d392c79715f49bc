// SQL fragments more than one statement uses. Each takes SQL expressions (already quoted
// identifiers or parameter references) and returns an expression.

/** `schema.name`: how a packages table is named in logs, history rows and reports. */
export function displayName(table: { schema: string; name: string }): string {
  return `${table.schema}.${table.name}`;
}

/** A local (zone-less) timestamp as ISO 8601 text without offset, optionally with milliseconds. */
export function isoLocal(expression: string, milliseconds = false): string {
  return `to_char(${expression}, 'YYYY-MM-DD"T"HH24:MI:SS${milliseconds ? '.MS' : ''}')`;
}

/** A timestamptz as ISO 8601 UTC text (`Z`), optionally with milliseconds. */
export function isoUtc(expression: string, milliseconds = false): string {
  return `to_char(${expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS${milliseconds ? '.MS' : ''}"Z"')`;
}
