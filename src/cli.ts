// The only module that touches the process: argv, process.env, the .env file, stdout/stderr,
// signals and the exit code. Everything it calls takes explicit arguments and returns.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import { buildConfig, historySettings, secretsOf, tableSetting, type Config, type Env, type Flags } from './config.js';
import { ConfigError, ExitCode, UsageError, describeError, exitCodeFor, sqlstateOf } from './errors.js';
import type { Logger as PinoLogger } from 'pino';

type CommandName = 'run' | 'check' | 'migrate' | 'status' | 'history';

interface CommandFlags extends Flags {
  envFile?: string;
  print?: boolean;
  json?: boolean;
  limit?: string;
  maxAge?: string;
  package?: string;
  since?: string;
}

const FAILED_EVENT: Record<CommandName, string> = {
  run: 'tick.failed',
  check: 'check.failed',
  migrate: 'migrate.failed',
  status: 'status.failed',
  history: 'history.failed',
};

/** `status --max-age`: the last successful tick is older than allowed (or never happened). */
const EXIT_STALE = 1;

// Node prints process warnings (pg's sslmode notice, for one) as several lines on stderr;
// they become one JSON line instead, so stderr keeps its one-line-per-error promise.
let warningLogger: PinoLogger | undefined;
function routeWarnings(): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    const message = warning.message.replace(/\s*\n\s*/g, ' ');
    if (warningLogger) warningLogger.warn({ event: 'node.warning', warning: warning.name, code: (warning as { code?: string }).code }, message);
    else process.stderr.write(`package-scheduler: warning: ${message}\n`);
  });
}

export async function cli(argv: string[] = process.argv, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  routeWarnings();
  let exitCode: number = ExitCode.ok;
  const program = buildProgram(packageVersion(), async (command, flags) => {
    exitCode = await execute(command, flags, env);
  });
  try {
    await program.parseAsync(argv);
  } catch (error) {
    // commander has already printed its one-line message; it exits 1 by default, sysexits says 64.
    exitCode = error instanceof CommanderError ? (error.exitCode === 0 ? ExitCode.ok : ExitCode.usage) : ExitCode.software;
    if (!(error instanceof CommanderError)) process.stderr.write(`package-scheduler: ${describeError(error)}\n`);
  }
  process.exitCode = exitCode;
}

function buildProgram(version: string, action: (command: CommandName, flags: CommandFlags) => Promise<void>): Command {
  const program = new Command('package-scheduler')
    .description('Activates and deactivates scheduled special packages in PostgreSQL, in one transaction per tick.')
    .version(version, '-V, --version')
    .exitOverride()
    .showSuggestionAfterError();

  const withCommon = (cmd: Command) =>
    cmd
      .option('--database-url <url>', 'PostgreSQL URL (env DATABASE_URL; else libpq PG* variables)')
      .option('--table <name>', 'packages table, optionally schema-qualified (env SCHEDULER_TABLE)', undefined)
      .option('--timezone <iana>', "business time zone (env SCHEDULER_TIMEZONE; default: the host's zone)")
      .option('--connect-timeout <ms>', 'connect timeout (env SCHEDULER_CONNECT_TIMEOUT; default 10000)')
      .option('--lock-timeout <ms>', 'lock_timeout inside the transaction (env SCHEDULER_LOCK_TIMEOUT; default 5000)')
      .option('--statement-timeout <ms>', 'statement_timeout inside the transaction (env SCHEDULER_STATEMENT_TIMEOUT; default 30000)')
      .option('--env-file <path>', 'read settings from this file (env SCHEDULER_ENV_FILE; default: ./.env when present)')
      .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (env LOG_LEVEL; default info)')
      .exitOverride();
  const expiry = () =>
    new Option('--expiry <mode>', 'when valid_until has passed: "date" (after that whole day) or "instant" (env SCHEDULER_EXPIRY; default date)');
  const historySchema = () =>
    new Option('--history-schema <schema>', "schema of the history tables (env SCHEDULER_HISTORY_SCHEMA; default: the packages table's)");

  withCommon(program.command('run', { isDefault: true }).alias('run-once'))
    .description('apply every due activation and deactivation once (the default command)')
    .addOption(expiry())
    .option('--dry-run', 'report exactly what a real run would do; change nothing')
    .option('--at <timestamp>', 'with --dry-run: evaluate as if now were this ISO 8601 time (no offset: local to --timezone)')
    .option('--every <seconds>', 'stay running and tick every N seconds (env SCHEDULER_EVERY)')
    .option('--no-history', 'do not record run history even where its tables exist (env SCHEDULER_HISTORY=off)')
    .addOption(historySchema())
    .option('--history-days <days>', 'delete history events older than this (env SCHEDULER_HISTORY_DAYS; default 90)')
    .option('--notify <channel>', 'pg_notify this channel after a tick with changes (env SCHEDULER_NOTIFY_CHANNEL)')
    .action((flags: CommandFlags) => action('run', flags));

  withCommon(program.command('migrate'))
    .description('add the scheduling columns, partial indexes (built CONCURRENTLY) and history tables; idempotent')
    .option('--print', 'print the SQL and change nothing')
    .option('--no-history', 'leave out the history tables')
    .addOption(historySchema())
    .action((flags: CommandFlags) => action('migrate', flags));

  withCommon(program.command('status'))
    .description('last run, next activations and deactivations, overdue and misconfigured packages')
    .addOption(expiry())
    .addOption(historySchema())
    .option('--limit <n>', 'how many upcoming changes of each kind to list (default 10)')
    .option('--max-age <seconds>', 'exit 1 when the last successful tick is older than this, or never happened')
    .option('--json', 'print the report as JSON')
    .action((flags: CommandFlags) => action('status', flags));

  withCommon(program.command('history'))
    .description('recorded changes, newest first')
    .addOption(historySchema())
    .option('--package <id>', "only this package's events")
    .option('--since <time>', 'only events since then (ISO 8601; without an offset: local to --timezone)')
    .option('--limit <n>', 'at most this many events (default 50)')
    .option('--json', 'print the events as JSON')
    .action((flags: CommandFlags) => action('history', flags));

  withCommon(program.command('check'))
    .description('validate table, columns, zone and indexes; show what is due and misconfigured rows')
    .addOption(expiry())
    .option('--json', 'print the report as JSON')
    .action((flags: CommandFlags) => action('check', flags));

  return program;
}

async function execute(command: CommandName, flags: CommandFlags, processEnv: NodeJS.ProcessEnv): Promise<number> {
  let logger: PinoLogger | undefined; // built once the log level is known
  let secrets: string[] = [];
  try {
    const env = { ...(await loadEnvFile(flags.envFile ?? nonEmptyOrUndefined(processEnv.SCHEDULER_ENV_FILE))), ...definedOnly(processEnv) };
    secrets = secretsOf(flags, env);
    if (command === 'migrate' && flags.print) return await printMigration(flags, env);
    const config = buildConfig(flags, env, { hostTimezone: () => hostTimezone(processEnv), command });
    logger = await makeLogger(config.logLevel);
    warningLogger = logger;
    switch (command) {
      case 'run':
        if (config.everySeconds !== undefined) return await loop(config, logger);
        return await tickOnce(config, logger, randomUUID());
      case 'migrate':
        return await runMigrate(config, logger);
      case 'check':
        return await runCheck(config, flags.json === true);
      case 'status':
        return await runStatus(config, flags);
      case 'history':
        return await runHistory(config, flags);
    }
  } catch (error) {
    const runId = error instanceof TickError ? { runId: error.runId } : {};
    logger ??= await makeLogger('info');
    return reportFailure(FAILED_EVENT[command], error instanceof TickError ? error.cause : error, logger, secrets, runId);
  }
}

/** Carries the failed tick's runId to its tick.failed line. */
class TickError extends Error {
  constructor(
    readonly runId: string,
    override readonly cause: unknown,
  ) {
    super('tick failed', { cause });
  }
}

async function tickOnce(config: Config, logger: PinoLogger, runId: string): Promise<number> {
  const [{ withConnection }, { runTick }] = await Promise.all([import('./db.js'), import('./tick.js')]);
  try {
    await withConnection(config.connection, (client) => runTick(client, { ...tickOptions(config), runId }, logger));
  } catch (error) {
    throw new TickError(runId, error);
  }
  return ExitCode.ok;
}

/**
 * `--every`: a long-running process for hosts without cron. A failed tick is logged and the
 * next one tries again; SIGTERM/SIGINT let the current tick finish (or roll back), then exit 0.
 */
async function loop(config: Config, logger: PinoLogger): Promise<number> {
  let stopping = false;
  let wake = () => {};
  const stop = (signal: NodeJS.Signals) => {
    if (!stopping) logger.info({ event: 'scheduler.stopping', signal }, 'stopping after the current tick');
    stopping = true;
    wake();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  logger.info({ event: 'scheduler.started', everySeconds: config.everySeconds }, 'ticking');
  try {
    while (!stopping) {
      const started = Date.now();
      try {
        await tickOnce(config, logger, randomUUID());
      } catch (error) {
        const runId = error instanceof TickError ? error.runId : undefined;
        reportFailure('tick.failed', error instanceof TickError ? error.cause : error, logger, config.secrets, { runId, retrying: true });
      }
      const wait = config.everySeconds! * 1000 - (Date.now() - started);
      if (stopping || wait <= 0) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
  logger.info({ event: 'scheduler.stopped' }, 'stopped');
  return ExitCode.ok;
}

async function runMigrate(config: Config, logger: PinoLogger): Promise<number> {
  const [{ withConnection }, { migrate }] = await Promise.all([import('./db.js'), import('./migrate.js')]);
  await withConnection(config.connection, (client) =>
    migrate(
      client,
      {
        table: config.table,
        lockTimeoutMs: config.lockTimeoutMs,
        history: config.history === false ? false : { schema: config.history.schema },
      },
      logger,
    ),
  );
  return ExitCode.ok;
}

async function printMigration(flags: CommandFlags, env: Env): Promise<number> {
  // --print needs no database: only the table and history settings, validated as for a run.
  const { migrationSql } = await import('./sql/migration-sql.js');
  const table = tableSetting(flags, env);
  const history = historySettings(flags, env);
  process.stdout.write(migrationSql(table, history === false ? null : (history.schema ?? table.schema)));
  return ExitCode.ok;
}

async function runStatus(config: Config, flags: CommandFlags): Promise<number> {
  const limit = positiveInteger(flags.limit, '--limit', 10, 1000);
  const maxAge = flags.maxAge === undefined ? undefined : positiveInteger(flags.maxAge, '--max-age', 0, 10 * 365 * 86400);
  const [{ withConnection }, { status }, { formatStatus }] = await Promise.all([
    import('./db.js'),
    import('./status.js'),
    import('./status-report.js'),
  ]);
  if (maxAge !== undefined && config.history === false) {
    throw new UsageError('--max-age needs run history; drop --no-history');
  }
  const report = await withConnection(config.connection, (client) =>
    status(client, {
      table: config.table,
      timezone: config.timezone,
      expiry: config.expiry,
      historySchema: config.history === false ? undefined : config.history.schema,
      limit,
      lockTimeoutMs: config.lockTimeoutMs,
      statementTimeoutMs: config.statementTimeoutMs,
    }),
  );
  process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
  if (maxAge === undefined) return ExitCode.ok;
  if (!report.historyEnabled) {
    throw new ConfigError('--max-age needs the history tables: run "package-scheduler migrate"');
  }
  const age = report.lastRun?.lastSuccessAgeSeconds;
  if (age === null || age === undefined || age > maxAge) {
    process.stderr.write(
      `package-scheduler: stale: ${age == null ? 'no successful tick recorded' : `last successful tick ${age}s ago`} (--max-age ${maxAge})\n`,
    );
    return EXIT_STALE;
  }
  return ExitCode.ok;
}

async function runHistory(config: Config, flags: CommandFlags): Promise<number> {
  const limit = positiveInteger(flags.limit, '--limit', 50, 100_000);
  const [{ withConnection }, { readHistory }, { formatHistory }, { checkTimestamp }] = await Promise.all([
    import('./db.js'),
    import('./history.js'),
    import('./status-report.js'),
    import('./config.js'),
  ]);
  if (flags.since !== undefined) {
    const problem = checkTimestamp(flags.since.trim());
    if (problem) throw new UsageError(`invalid --since: ${problem}`);
  }
  if (flags.package !== undefined && flags.package.trim() === '') throw new UsageError('invalid --package: empty value');
  const events = await withConnection(config.connection, (client) =>
    readHistory(client, {
      table: config.table,
      historySchema: config.history === false ? undefined : config.history.schema,
      packageId: flags.package?.trim(),
      since: flags.since?.trim(),
      timezone: config.timezone,
      limit,
    }),
  );
  process.stdout.write(flags.json ? `${JSON.stringify(events, null, 2)}\n` : formatHistory(events));
  return ExitCode.ok;
}

function positiveInteger(text: string | undefined, flag: string, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const trimmed = text.trim();
  const n = Number(trimmed);
  if (!/^\d+$/.test(trimmed) || n > max) throw new UsageError(`invalid ${flag}: "${text}" is not a whole number from 0 to ${max}`);
  return n;
}

async function runCheck(config: Config, json: boolean): Promise<number> {
  const [{ withConnection }, { check }, { formatCheckReport }] = await Promise.all([
    import('./db.js'),
    import('./check.js'),
    import('./check-report.js'),
  ]);
  const report = await withConnection(config.connection, (client) =>
    check(client, {
      table: config.table,
      timezone: config.timezone,
      expiry: config.expiry,
      lockTimeoutMs: config.lockTimeoutMs,
      statementTimeoutMs: config.statementTimeoutMs,
    }),
  );
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatCheckReport(report));
  return ExitCode.ok;
}

function tickOptions(config: Config) {
  return {
    table: config.table,
    timezone: config.timezone,
    expiry: config.expiry,
    dryRun: config.dryRun,
    at: config.at,
    lockTimeoutMs: config.lockTimeoutMs,
    statementTimeoutMs: config.statementTimeoutMs,
    history: config.history,
    notifyChannel: config.notifyChannel,
    runner: { version: packageVersion(), host: hostname() },
  };
}

function reportFailure(
  event: string,
  error: unknown,
  logger: PinoLogger,
  secrets: string[],
  extra: Record<string, unknown> = {},
): number {
  const exitCode = exitCodeFor(error);
  const message = scrub(describeError(error), secrets);
  const code = sqlstateOf(error);
  logger.error({ event, exitCode, ...(code ? { code } : {}), error: message, ...extra }, message);
  process.stderr.write(`package-scheduler: ${message}\n`);
  return exitCode;
}

function scrub(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length > 0) out = out.split(secret).join('***');
  }
  // A URL with credentials that slipped into a message some other way.
  return out.replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1***@');
}

function nonEmptyOrUndefined(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

// cron starts jobs in $HOME, so ./.env is only read when it exists; a file named with
// --env-file / SCHEDULER_ENV_FILE must exist.
async function loadEnvFile(path: string | undefined): Promise<Env> {
  const file = path ?? '.env';
  if (!existsSync(file)) {
    if (path !== undefined) throw new ConfigError(`--env-file / SCHEDULER_ENV_FILE: ${path} does not exist`);
    return {};
  }
  try {
    // Loaded only when there is a file to parse: most cron runs have none in $HOME.
    // The default export is dotenv's module.exports, in Node's interop and in the bundle alike.
    const { default: dotenv } = await import('dotenv');
    return dotenv.parse(readFileSync(file));
  } catch (error) {
    throw new ConfigError(`--env-file: cannot read ${file}`, { cause: error });
  }
}

function definedOnly(env: NodeJS.ProcessEnv): Env {
  const out: Env = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

// The host's zone without starting ICU (~13 ms): TZ, then the /etc/localtime link.
function hostTimezone(env: NodeJS.ProcessEnv): string {
  const tz = env.TZ?.replace(/^:/, '');
  if (tz && !tz.startsWith('/')) return tz;
  try {
    const match = /zoneinfo\/(.+)$/.exec(readlinkSync(tz || '/etc/localtime'));
    if (match?.[1]) return match[1];
  } catch {
    // not a link: fall back to ICU
  }
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

async function makeLogger(level: string): Promise<PinoLogger> {
  // The default export is pino itself, both for Node's CommonJS interop and in the bundle.
  const { default: pino } = await import('pino');
  // Synchronous writes: the last line before exit is never lost in a buffer.
  return pino(
    {
      level,
      base: { pid: process.pid, hostname: hostname() },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 1, sync: true }),
  );
}

let version: string | undefined;
function packageVersion(): string {
  if (version !== undefined) return version;
  // dist/cli.js and the bundle in dist/bundle/ sit at different depths below package.json.
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'package-scheduler') return (version = pkg.version);
    } catch {
      // try the next candidate
    }
  }
  return (version = 'unknown');
}
