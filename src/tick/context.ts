// A tick's steps share one context: the connection, the resolved table, the options, the one
// clock reading, the fields every result carries, and where change records wait for COMMIT.
// resolveTable and openTick build it (the table, then the clock); each step then reads as one line.
import { randomUUID } from 'node:crypto';
import { ConfigError, errorCode } from '../errors.js';
import { query, readPages, type Queryable } from '../db/resources.js';
import { displayName } from '../db/sql-fragments.js';
import type { Statement } from '../db/params.js';
import type { Logger } from '../logger.js';
import { resolvePackagesTable, type PackagesTable } from '../table/packages-table.js';
import { unknownZoneMessage } from '../config/zone-name.js';
import type { ChangeSpool } from './change-spool.js';
import type { ChangeRow } from './change-records.js';
import { clockStatement, type ClockRow } from './clock-sql.js';
import type { TickClock } from './due-sql.js';
import type { PreviewOptions } from './options.js';
import { ChangeCollector, type ResultBase, type TickCompleted } from './result.js';

/** Rows per round trip when reading the tick statement's result. */
const PAGE_ROWS = 2000;

export interface TickContext<S extends ChangeSpool | undefined = ChangeSpool | undefined> {
  client: Queryable;
  table: PackagesTable;
  options: PreviewOptions;
  clock: ClockRow;
  /** The fields of the result every change line and tick.completed carry. */
  base: ResultBase;
  /** A new spool for one run of the statement (undefined: count and list, keep no records). */
  spool: () => S;
  /** A real tick: the most rows this transaction changes (--max-changes). */
  maxRows?: number;
}

/** A tick's result and the spool that holds its change records until they are logged. */
export interface Changes<S extends ChangeSpool | undefined = ChangeSpool> {
  result: TickCompleted;
  spool: S;
}

export interface OpenOptions<S extends ChangeSpool | undefined> {
  runId?: string;
  dryRun: boolean;
  /** Look for the history tables (in `historySchema`, default: the table's schema). */
  history?: { schema?: string };
  spool: () => S;
  logger?: Logger;
}

/** The packages table, resolved and checked (with its history tables, when asked for). */
export async function resolveTable(client: Queryable, options: PreviewOptions, open: Pick<OpenOptions<undefined>, 'history' | 'logger'>): Promise<PackagesTable> {
  const table = await resolvePackagesTable(client, options.table, {
    history: open.history !== undefined,
    historySchema: open.history?.schema,
    timezoneColumn: options.timezoneColumn,
  });
  if (open.history && table.history === undefined) {
    open.logger?.debug({ event: 'history.off', table: displayName(table) }, 'no history tables: run "package-scheduler migrate" to keep run history');
  }
  return table;
}

/** Reads the clock: with the resolved table, everything the steps after it share. */
export async function openTick<S extends ChangeSpool | undefined>(
  client: Queryable,
  table: PackagesTable,
  options: PreviewOptions,
  open: OpenOptions<S>,
): Promise<TickContext<S>> {
  const clock = await readClock(client, options);
  const base = { runId: open.runId ?? randomUUID(), table: displayName(table), dryRun: open.dryRun, timezone: options.timezone, now: clockText(clock) };
  return { client, table, options, clock, base, spool: open.spool };
}

async function readClock(client: Queryable, options: Pick<PreviewOptions, 'timezone' | 'at'>): Promise<ClockRow> {
  try {
    return (await query<ClockRow>(client, clockStatement(options.timezone, options.at))).rows[0]!;
  } catch (error) {
    // invalid_parameter_value: the only parameter here PostgreSQL can reject that way is the zone.
    if (errorCode(error) === '22023') throw new ConfigError(unknownZoneMessage(options.timezone), { cause: error });
    throw error;
  }
}

/** The clock as the statements take it; `unknownZones`: per-row zones whose rows are left alone. */
export function tickClock(tick: Pick<TickContext, 'clock' | 'options'>, unknownZones: string[] = []): TickClock {
  return { instant: tick.clock.instant, timezone: tick.options.timezone, unknownZones };
}

/**
 * Reads a tick statement's changes page by page: counted and listed in the result, every record
 * spooled. Several statements (one per shard on Citus) make one result and one spool.
 */
export async function collect<S extends ChangeSpool | undefined>(tick: TickContext<S>, statements: Statement | Statement[]): Promise<Changes<S>> {
  const spool = tick.spool();
  const collector = new ChangeCollector(tick.base, spool && ((records) => spool.append(records)));
  try {
    for (const statement of Array.isArray(statements) ? statements : [statements]) {
      await readPages<ChangeRow>(tick.client, statement, PAGE_ROWS, (rows) => collector.addPage(rows));
    }
  } catch (error) {
    spool?.close();
    throw error;
  }
  return { result: collector.result, spool };
}

/** tick.completed's `now`: the instant seen in the zone, with its UTC offset. */
function clockText(clock: ClockRow): string {
  const offset = clock.utc_offset_seconds;
  const abs = Math.abs(offset);
  const hh = String(Math.floor(abs / 3600)).padStart(2, '0');
  const mm = String(Math.floor((abs % 3600) / 60)).padStart(2, '0');
  return `${clock.local_now}${offset < 0 ? '-' : '+'}${hh}:${mm}`;
}

export function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
