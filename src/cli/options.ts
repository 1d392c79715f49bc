// The one place where the validated Config becomes each command's library options.
import { hostname } from 'node:os';
import type { Config } from '../config/config.js';
import type { CheckOptions } from '../check/check.js';
import type { HistoryQuery } from '../history/history.js';
import type { MigrateOptions } from '../migrate/migrate.js';
import type { StatusOptions } from '../status/status.js';
import type { TickOptions } from '../tick/tick.js';

/** Where status and history read run history from: they read it whenever its tables exist. */
export function historySchemaOf(config: Config): string | undefined {
  return config.history === false ? undefined : config.history.schema;
}

export function tickOptions(config: Config, version: string, runId: string): TickOptions {
  return {
    table: config.table,
    timezone: config.timezone,
    timezoneColumn: config.timezoneColumn,
    expiry: config.expiry,
    dryRun: config.dryRun,
    at: config.at,
    lockTimeoutMs: config.lockTimeoutMs,
    statementTimeoutMs: config.statementTimeoutMs,
    maxChanges: config.maxChanges,
    history: config.history,
    notifyChannel: config.notifyChannel,
    runId,
    runner: { version, host: hostname() },
  };
}

export function migrateOptions(config: Config): MigrateOptions {
  return {
    table: config.table,
    lockTimeoutMs: config.lockTimeoutMs,
    statementTimeoutMs: config.statementTimeoutMs,
    history: config.history,
    wakeTrigger: config.wakeTrigger,
  };
}

export function checkOptions(config: Config): CheckOptions {
  return {
    table: config.table,
    timezone: config.timezone,
    timezoneColumn: config.timezoneColumn,
    expiry: config.expiry,
    lockTimeoutMs: config.lockTimeoutMs,
    statementTimeoutMs: config.statementTimeoutMs,
    maxChanges: config.maxChanges,
  };
}

export function statusOptions(config: Config): StatusOptions {
  return { ...checkOptions(config), historySchema: historySchemaOf(config), limit: config.limit };
}

export function historyQuery(config: Config): HistoryQuery {
  return {
    table: config.table,
    historySchema: historySchemaOf(config),
    packageId: config.packageId,
    since: config.since,
    timezone: config.timezone,
    limit: config.limit,
    lockTimeoutMs: config.lockTimeoutMs,
    statementTimeoutMs: config.statementTimeoutMs,
  };
}
