// migrate, check and status over many tables: each table on its own, one table's failure
// reported and the others done; the exit code is the most severe of the tables' (outcome.ts).
import type { Config } from '../../config/config.js';
import { check as checkTable, type CheckReport } from '../../check/check.js';
import { formatCheckReport } from '../../check/report.js';
import { ConfigError, describeError, errorCode, ExitCode, sqlstateOf } from '../../errors.js';
import { migrate as migrateTable } from '../../migrate/migrate.js';
import { status as readStatus, type StatusReport } from '../../status/status.js';
import { formatStatus } from '../../status/report.js';
import { mostSevere } from '../../tenants/outcome.js';
import { checkOptions, migrateOptions, statusOptions } from '../options.js';
import { print, type CommandContext } from '../commands/context.js';
import { scrub } from '../failure.js';
import { forEachTable, reportTableFailure, shardText } from './shared.js';

/**
 * One table at a time whatever --concurrency says: CREATE INDEX CONCURRENTLY waits for every
 * transaction older than it, another table's index build included, so builds in parallel
 * would mostly wait for each other.
 */
export async function migrateMany(config: Config, context: CommandContext): Promise<number> {
  const { logger } = context;
  const started = performance.now();
  const run = await forEachTable(
    { ...config, concurrency: 1 },
    async (client, target) => {
      await migrateTable(client, { ...migrateOptions(config), table: target.table }, logger);
      return { table: target.display, exitCode: ExitCode.ok as number };
    },
    (target, error) => ({ table: target.display, exitCode: reportTableFailure('migrate.failed', target.display, error, logger, config.secrets) }),
  );
  const results = run.results.filter((r) => r !== undefined);
  const failed = results.filter((r) => r.exitCode !== ExitCode.ok);
  const exitCode = mostSevere(results.map((r) => r.exitCode));
  logger.info(
    {
      event: 'migrate.summary',
      tables: run.resolved.targets.length,
      completed: results.length - failed.length,
      failed: failed.length,
      ...(failed.length > 0 ? { failedTables: failed.slice(0, 20).map((r) => r.table) } : {}),
      ...(config.shard ? { shard: shardText(config) } : {}),
      exitCode,
      durationMs: Math.round(performance.now() - started),
    },
    failed.length > 0 ? `migrate: ${failed.length} of ${run.resolved.targets.length} tables failed` : 'migrate: every table done',
  );
  return exitCode;
}

/** A table a report could not be made for: in the output in its place, and on stderr. */
interface FailedReport {
  table: string;
  error: { exitCode: number; code?: string; message: string };
}

type Entry<R> = { report: R } | { failed: FailedReport };

async function reports<R>(config: Config, make: (client: import('pg').PoolClient, table: Config['table']) => Promise<R>) {
  return forEachTable(
    config,
    async (client, target): Promise<Entry<R>> => ({ report: await make(client, target.table) }),
    (target, error): Entry<R> => {
      const code = sqlstateOf(error) ?? errorCode(error);
      // Only stderr: stdout is the report (text, or one JSON document).
      const exitCode = reportTableFailure('', target.display, error, undefined, config.secrets);
      return { failed: { table: target.display, error: { exitCode, ...(code ? { code } : {}), message: scrub(describeError(error), config.secrets) } } };
    },
  );
}

function printEntries<R>(config: Config, context: CommandContext, entries: Entry<R>[], format: (report: R) => string): void {
  if (config.json) {
    print(context, `${JSON.stringify(entries.map((e) => ('report' in e ? e.report : e.failed)), null, 2)}\n`);
    return;
  }
  const blocks = entries.map((e) => ('report' in e ? format(e.report) : `table      ${e.failed.table}\nfailed     ${e.failed.error.message} (exit ${e.failed.error.exitCode})\n`));
  print(context, blocks.join('\n'));
}

function exitCodes<R>(entries: Entry<R>[]): number[] {
  return entries.map((e) => ('failed' in e ? e.failed.error.exitCode : ExitCode.ok));
}

export async function checkMany(config: Config, context: CommandContext): Promise<number> {
  const run = await reports<CheckReport>(config, (client, table) => checkTable(client, { ...checkOptions(config), table }));
  const entries = run.results.filter((e) => e !== undefined);
  printEntries(config, context, entries, formatCheckReport);
  return mostSevere(exitCodes(entries));
}

/** With --max-age: exit 1 when any table's last success is too old or never happened (and nothing worse failed). */
export async function statusMany(config: Config, context: CommandContext): Promise<number> {
  const run = await reports<StatusReport>(config, (client, table) => readStatus(client, { ...statusOptions(config), table }));
  const entries = run.results.filter((e) => e !== undefined);
  printEntries(config, context, entries, formatStatus);
  const codes = exitCodes(entries);
  const maxAge = config.maxAgeSeconds;
  if (maxAge !== undefined) {
    for (const entry of entries) {
      if (!('report' in entry)) continue;
      const report = entry.report;
      if (!report.historyEnabled) {
        codes.push(reportTableFailure('', report.table, new ConfigError('--max-age needs the history tables: run "package-scheduler migrate"'), undefined, []));
        continue;
      }
      const age = report.lastRun?.lastSuccessAgeSeconds;
      if (age === null || age === undefined || age > maxAge) {
        process.stderr.write(`package-scheduler: stale: ${report.table}: ${age == null ? 'no successful tick recorded' : `last successful tick ${age}s ago`} (--max-age ${maxAge})\n`);
        codes.push(1);
      }
    }
  }
  return mostSevere(codes);
}
