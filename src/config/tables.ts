// Which tables a command works on (--table, repeatable, patterns; SCHEDULER_TABLE, a comma-
// separated list), how many at once (--concurrency) and which shard of them (--shard, or an
// Indexed Job's JOB_COMPLETION_INDEX with SCHEDULER_SHARD_COUNT). All checked before connecting:
// a bad flag is 64, a bad variable 78, each naming what the user typed.
import { ConfigError, UsageError } from '../errors.js';
import type { QualifiedName } from '../table/identifiers.js';
import { isSingleLiteral, parseTableEntry, splitList, type TableEntry } from '../tenants/patterns.js';
import { MAX_SHARDS, type Shard } from '../tenants/shard.js';
import { integer, invalid, nonEmpty, pick, type Env, type Sourced } from './values.js';

export const DEFAULT_TABLE = 'special_packages';
export const DEFAULT_CONCURRENCY = 4;
export const MAX_CONCURRENCY = 64;

const TABLE = { flag: '--table', env: 'SCHEDULER_TABLE' };

export interface TableSelection {
  entries: TableEntry[];
  /** The one literal table when that is all there is: the one-table path, exactly as before. */
  single?: QualifiedName;
}

/** `--table` may be given several times, each value a comma-separated list too. */
export function tableSelection(flagValue: string | string[] | undefined, env: Env): TableSelection {
  const values = flagValue === undefined ? [undefined] : Array.isArray(flagValue) ? flagValue : [flagValue];
  const entries: TableEntry[] = [];
  for (const value of values) {
    const source = nonEmpty(pick(value, env, TABLE));
    for (const item of splitList(source?.value ?? DEFAULT_TABLE)) {
      const entry = parseTableEntry(item);
      if (typeof entry === 'string') throw invalid(source!, entry);
      entries.push(entry);
    }
  }
  return isSingleLiteral(entries) ? { entries, single: entries[0].table } : { entries };
}

/** For the commands that take exactly one literal table (history, migrate --print). */
export function singleTable(flagValue: string | string[] | undefined, env: Env, why: string): QualifiedName {
  const selection = tableSelection(flagValue, env);
  if (selection.single) return selection.single;
  const message = `invalid --table / SCHEDULER_TABLE: ${why} takes one table name, not a list or a pattern`;
  throw flagValue === undefined ? new ConfigError(message) : new UsageError(message);
}

export function concurrencySetting(flagValue: string | undefined, env: Env): number {
  return integer(nonEmpty(pick(flagValue, env, { flag: '--concurrency', env: 'SCHEDULER_CONCURRENCY' })), DEFAULT_CONCURRENCY, 1, MAX_CONCURRENCY, 'tables at once');
}

/**
 * --shard k/n, else SCHEDULER_SHARD, else an Indexed Job's JOB_COMPLETION_INDEX with
 * SCHEDULER_SHARD_COUNT. JOB_COMPLETION_INDEX alone is ignored: every Indexed Job sets it.
 */
export function shardSetting(flagValue: string | undefined, env: Env): Shard | undefined {
  const source = nonEmpty(pick(flagValue, env, { flag: '--shard', env: 'SCHEDULER_SHARD' }));
  if (source !== undefined) return parseShard(source);
  const count = nonEmpty(pick(undefined, env, { env: 'SCHEDULER_SHARD_COUNT' }));
  if (count === undefined) return undefined;
  const index = nonEmpty(pick(undefined, env, { env: 'JOB_COMPLETION_INDEX' }));
  if (index === undefined) {
    throw new ConfigError('SCHEDULER_SHARD_COUNT is set but JOB_COMPLETION_INDEX is not (it is set by an Indexed Job); or use --shard k/n');
  }
  const n = integer(count, 0, 1, MAX_SHARDS, 'shards');
  const k = integer(index, 0, 0, MAX_SHARDS - 1, 'index');
  if (k >= n) throw invalid(index, `${k} is not below SCHEDULER_SHARD_COUNT=${n} (indexes run from 0 to ${n - 1})`);
  return { index: k, count: n };
}

function parseShard(source: Sourced): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(source.value.trim());
  if (!match) throw invalid(source, `"${source.value}" is not k/n (this process's shard k of n, 0 ≤ k < n ≤ ${MAX_SHARDS}), e.g. 0/4`);
  const k = Number(match[1]);
  const n = Number(match[2]);
  if (n < 1 || n > MAX_SHARDS) throw invalid(source, `${n} shards is out of range (1 to ${MAX_SHARDS})`);
  if (k >= n) throw invalid(source, `shard ${k} does not exist in ${n} shards (they are numbered 0 to ${n - 1})`);
  return { index: k, count: n };
}
