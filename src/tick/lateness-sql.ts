// How late each change is: its line's lateSeconds and tick.completed's maxLateMs, both counted
// from the change's due instant to the tick's instant and never negative. Over the row as the
// UPDATE returns it (`p`) and its decision (`d`, with due_local).
import type { PackagesTable } from '../table/packages-table.js';
import { activationInstantSql, deactivationDueLocalSql, expiryInstantSql, farPastSql, localDate, SAFE_DATES, type ClockRefs, type ExpiryMode } from './due-sql.js';

// The clock as the UPDATE's RETURNING sees it: with per-row zones, the zone the decision
// carries (the zone's own expression is over the due rows' FROM, which RETURNING does not see).
function decisionClock(c: ClockRefs): ClockRefs {
  return c.perRow ? { ...c, zone: 'd.zone' } : c;
}

/**
 * Real seconds since the due wall-clock time, converted plainly: an ambiguous time (the repeated
 * hour when DST ends) converts to its later occurrence, but activates at the first: not late.
 * date_part (double), not extract (numeric): the same whole seconds, cheaper on a million rows.
 */
export function lateSecondsSql(clock: ClockRefs): string {
  const c = decisionClock(clock);
  return `CASE WHEN d.activate OR d.skip_activation
              THEN greatest(0, floor(date_part('epoch', ${c.instant} - (d.due_local AT TIME ZONE ${c.zone}))))::bigint END`;
}

/**
 * Milliseconds from the due instant to the tick's instant (maxLateMs is their largest). NULL
 * where there is no finite instant (valid_until = '-infinity').
 *
 * Within the rule's last two days (where the due rules themselves compare exact instants, and
 * where --watch's changes are) the due instant is exact (due-instants.ts): the first instant the
 * zone's clock read the due time. Further back it is the time's plain conversion (AT TIME ZONE):
 * the same instant, except for a time inside a DST gap or a repeated hour, which converts up
 * to the shift (an hour; two at most, Antarctica/Troll) later, so a lateness of more than a day
 * may read that much less. The exact instant is a correlated subquery per row: it cost 2 s of a
 * million-row catch-up, where every row is days late. Near the ends of the timestamp range the
 * conversion could overflow: there the exact form answers (NULL), as it always did.
 */
export function lateMsSql(table: PackagesTable, expiry: ExpiryMode, clock: ClockRefs): string {
  const c = decisionClock(clock);
  const zone = c.zone;
  const since = (instant: string) => `greatest(0, round((extract(epoch FROM ${c.instant} - ${instant}) * 1000)::numeric, 3))`;
  const activation = `CASE WHEN p.schedule_date < ${localDate(c)} - 1 AND p.schedule_date ${SAFE_DATES} THEN d.due_local AT TIME ZONE ${zone}
                           ELSE ${activationInstantSql(zone)} END`;
  const exactExpiry = expiryInstantSql(table.validUntilType, expiry, zone);
  // timestamptz under --expiry instant: the exact instant is valid_until itself, no conversion.
  const expiryAt =
    table.validUntilType === 'timestamptz' && expiry === 'instant'
      ? exactExpiry
      : `CASE WHEN ${farPastSql(table.validUntilType, c)} AND ${table.validUntilType === 'date' ? 'p.valid_until' : 'p.valid_until::date'} ${SAFE_DATES} THEN ${deactivationDueLocalSql(table.validUntilType, expiry, zone)} AT TIME ZONE ${zone}
                         ELSE ${exactExpiry} END`;
  return `greatest(CASE WHEN d.activate OR d.skip_activation THEN ${since(activation)} END,
                  CASE WHEN d.deactivate THEN ${since(expiryAt)} END)`;
}
