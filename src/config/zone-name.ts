// The one rule for a zone name, whether it comes from --timezone or from a row: an IANA name
// that PostgreSQL either finds in its tzdata or rejects (22023). What PostgreSQL would accept
// as a POSIX spec instead ('+03:00', 'UTC-167', 'Europe/Berlin+3', 'Etc/GMT+99') is refused:
// it reads their offsets with the sign inverted and up to 167 hours, so a 10:00 schedule would
// fire hours off, and "no zone is ahead of UTC by more than 14 hours" would not hold.
// Checked without the server and without ICU (starting it costs ~13 ms on every cron run).

// Area/Location[/Sub] names have no digits, so they can only be tzdata names (or unknown, which
// PostgreSQL rejects). Single words are listed: any other word PostgreSQL would take as a zone
// abbreviation (IST: Israel's +02:00 to PostgreSQL, India's +05:30 to a Mumbai salon), a fixed
// offset that also depends on the server's timezone_abbreviations. The list is every tzdata
// name without a slash that pg_timezone_names shows (but Factory), and the tzdata names with
// digits. Etc/GMT±N exists for N up to 12 (-13, -14 too).
const NAMED = '[A-Za-z][A-Za-z_-]*(?:/[A-Za-z][A-Za-z_-]*){1,2}';
const SINGLE_WORDS =
  'CET|Cuba|EET|EST|Egypt|Eire|GB|GB-Eire|GMT|Greenwich|HST|Hongkong|Iceland|Iran|Israel|Jamaica|Japan|Kwajalein|Libya|MET|MST|NZ|NZ-CHAT|' +
  'Navajo|PRC|Poland|Portugal|ROC|ROK|Singapore|Turkey|UCT|UTC|Universal|W-SU|WET|Zulu';
const WITH_DIGITS = 'EST5EDT|CST6CDT|MST7MDT|PST8PDT|GMT[+-]?0|Etc/GMT(?:[+-]?0|[+-](?:[1-9]|1[0-2])|-1[34])';

/**
 * The rule as a regular expression that JavaScript and PostgreSQL (`~*`) read alike; matched
 * case-insensitively, as PostgreSQL finds tzdata names.
 */
export const ZONE_NAME_PATTERN = `^(?:${WITH_DIGITS}|${SINGLE_WORDS}|${NAMED})$`;
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
  if (!suggestion && /^[A-Za-z]{2,6}$/.test(zone.trim())) {
    return `unknown time zone "${zone}"${context}: an abbreviation is not a zone (IST is India, Israel or Ireland); use an IANA name such as Asia/Kolkata or Europe/Berlin`;
  }
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
