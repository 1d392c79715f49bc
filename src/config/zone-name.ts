// The one rule for a zone name, whether it comes from --timezone or from a row: an IANA name
// that PostgreSQL either finds in its tzdata or rejects (22023). What PostgreSQL would accept
// as a POSIX spec instead ('+03:00', 'UTC-167', 'Europe/Berlin+3', 'Etc/GMT+99') is refused:
// it reads their offsets with the sign inverted and up to 167 hours, so a 10:00 schedule would
// fire hours off, and "no zone is ahead of UTC by more than 14 hours" would not hold.
// Checked without the server and without ICU (starting it costs ~13 ms on every cron run).

// Area/Location[/Sub] and single words (UTC, Cuba) have no digits, so they can only be tzdata
// names; the tzdata names with digits are listed. Etc/GMT±N exists for N up to 12 (-13, -14 too).
const NAMED = '[A-Za-z][A-Za-z_-]*(?:/[A-Za-z][A-Za-z_-]*){0,2}';
const WITH_DIGITS = 'EST5EDT|CST6CDT|MST7MDT|PST8PDT|GMT[+-]?0|Etc/GMT(?:[+-]?0|[+-](?:[1-9]|1[0-2])|-1[34])';

/**
 * The rule as a regular expression that JavaScript and PostgreSQL (`~*`) read alike; matched
 * case-insensitively, as PostgreSQL finds tzdata names.
 */
export const ZONE_NAME_PATTERN = `^(?:${WITH_DIGITS}|${NAMED})$`;
const ZONE_NAME = new RegExp(ZONE_NAME_PATTERN, 'i');
/** No tzdata name is longer than 32 characters; PostgreSQL's own limit is 255. */
const MAX_LENGTH = 64;

export function isZoneName(zone: string): boolean {
  return zone.length <= MAX_LENGTH && ZONE_NAME.test(zone);
}

/**
 * `unknown time zone "Berlin"; did you mean Europe/Berlin?` when a known zone's last part is
 * what was given (the usual slip). Only on the failure path, so ICU's list costs nothing otherwise.
 */
export function unknownZoneMessage(zone: string, where?: string): string {
  const suggestion = suggestZone(zone);
  const context = where === undefined ? '' : ` (${where})`;
  return `unknown time zone "${zone}"${context}; ${suggestion ? `did you mean ${suggestion}?` : 'use an IANA name such as Europe/Berlin'}`;
}

/** The known zones whose last part is the given name's (Berlin, US/Berlin → Europe/Berlin). */
export function suggestZone(zone: string): string | undefined {
  const last = zone.trim().replace(/\s+/g, '_').replace(/^.*\//, '').toLowerCase();
  if (last === '') return undefined;
  let known: string[];
  try {
    known = Intl.supportedValuesOf('timeZone');
  } catch {
    return undefined; // a Node built without ICU's zone list: no suggestion
  }
  const matches = known.filter((name) => name.toLowerCase().endsWith(`/${last}`) && name.toLowerCase() !== zone.trim().toLowerCase());
  return matches.length > 0 ? matches.slice(0, 3).join(' or ') : undefined;
}
