// ISO 8601 input (`--at`, `--since`): checked in JavaScript, interpreted by PostgreSQL.
// A timestamp with an offset names an instant; without one it is a wall-clock time in the
// business zone, which only the database can resolve (DST gaps and overlaps included).

const ISO_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** Returns a problem with an ISO 8601 timestamp, or undefined when it is a real date and time. */
export function checkTimestamp(text: string): string | undefined {
  const m = ISO_TIMESTAMP.exec(text);
  if (!m) return `"${text}" is not an ISO 8601 timestamp such as 2026-12-01T09:00 or 2026-12-01T09:00:00+01:00`;
  const [year, month, day, hour = '0', minute = '0', second = '0'] = m.slice(1) as string[];
  const y = Number(year);
  const mo = Number(month);
  const d = Number(day);
  const probe = new Date(Date.UTC(y, mo - 1, d));
  if (y < 1 || probe.getUTCFullYear() !== y || probe.getUTCMonth() !== mo - 1 || probe.getUTCDate() !== d) {
    return `"${text}" is not a real calendar date`;
  }
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return `"${text}" is not a real time of day`;
  return undefined;
}

/** A checked timestamp split into the parameter it becomes: an instant, or a local time. */
export type SplitTimestamp = { instant: string; local: null } | { instant: null; local: string };

export function splitTimestamp(text: string): SplitTimestamp {
  const m = ISO_TIMESTAMP.exec(text);
  // Only a time of day can carry an offset; a bare date is a local date.
  return m?.[4] !== undefined && m[7] !== undefined ? { instant: text, local: null } : { instant: null, local: text };
}
