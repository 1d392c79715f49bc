// The only module that touches the process: argv, process.env, the .env file, stdout/stderr,
// signals and the exit code. Everything it calls takes explicit arguments and returns.
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import { parse as parseDotenv } from 'dotenv';
import { buildConfig, type Config, type Env, type Flags } from './config.js';
import { ConfigError, ExitCode, describeError, exitCodeFor, sqlstateOf, type ExitCodeValue } from './errors.js';
import type { Logger as PinoLogger } from 'pino';

type CommandName = 'run' | 'check' | 'migrate';

interface CommandFlags extends Flags {
  envFile?: string;
  print?: boolean;
  json?: boolean;
}

const FAILED_EVENT: Record<CommandName, string> = { run: 'tick.failed', check: 'check.failed', migrate: 'migrate.failed' };

export async function cli(argv: string[] = process.argv, env: NodeJS.ProcessEnv = process.env): Promise<void> {
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

  withCommon(program.command('run', { isDefault: true }).alias('run-once'))
    .description('apply every due activation and deactivation once (the default command)')
    .addOption(expiry())
    .option('--dry-run', 'report exactly what a real run would do; change nothing')
    .option('--at <timestamp>', 'with --dry-run: evaluate as if now were this ISO 8601 time (no offset: local to --timezone)')
    .option('--every <seconds>', 'stay running and tick every N seconds (env SCHEDULER_EVERY)')
    .action((flags: CommandFlags) => action('run', flags));

  withCommon(program.command('migrate'))
    .description('add the scheduling columns and partial indexes (idempotent; indexes built CONCURRENTLY)')
    .option('--print', 'print the SQL and change nothing')
    .action((flags: CommandFlags) => action('migrate', flags));

  withCommon(program.command('check'))
    .description('validate table, columns, zone and indexes; show what is due and misconfigured rows')
    .addOption(expiry())
    .option('--json', 'print the report as JSON')
    .action((flags: CommandFlags) => action('check', flags));

  return program;
}

async function execute(command: CommandName, flags: CommandFlags, processEnv: NodeJS.ProcessEnv): Promise<number> {
  let logger = await makeLogger('info');
  let secrets: string[] = [];
  try {
    const env = { ...loadEnvFile(flags.envFile ?? nonEmptyOrUndefined(processEnv.SCHEDULER_ENV_FILE)), ...definedOnly(processEnv) };
    secrets = secretsIn(env, flags);
    if (command === 'migrate' && flags.print) return await printMigration(flags, env);
    const config = buildConfig(flags, env, { hostTimezone: hostTimezone(), command });
    secrets = [...secrets, ...config.secrets];
    logger = await makeLogger(config.logLevel);
    if (command === 'run') return config.everySeconds === undefined ? await tickOnce(config, logger) : await loop(config, logger);
    if (command === 'migrate') return await runMigrate(config, logger);
    return await runCheck(config, flags.json === true);
  } catch (error) {
    return reportFailure(FAILED_EVENT[command], error, logger, secrets);
  }
}

async function tickOnce(config: Config, logger: PinoLogger): Promise<number> {
  const [{ withConnection }, { runTick }] = await Promise.all([import('./db.js'), import('./tick.js')]);
  await withConnection(config.connection, (client) => runTick(client, tickOptions(config), logger));
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
        await tickOnce(config, logger);
      } catch (error) {
        reportFailure('tick.failed', error, logger, config.secrets, { retrying: true });
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
    migrate(client, { table: config.table, lockTimeoutMs: config.lockTimeoutMs }, logger),
  );
  return ExitCode.ok;
}

async function printMigration(flags: CommandFlags, env: Env): Promise<number> {
  // --print needs no database: only the table name, parsed as PostgreSQL would.
  const { parseQualifiedName } = await import('./identifiers.js');
  const { migrationSql } = await import('./sql/migration-sql.js');
  const text = flags.table ?? env.SCHEDULER_TABLE ?? 'special_packages';
  const table = parseQualifiedName(text);
  if (typeof table === 'string') throw new ConfigError(`invalid --table / SCHEDULER_TABLE: ${table}`);
  process.stdout.write(migrationSql(table));
  return ExitCode.ok;
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
  };
}

function reportFailure(
  event: string,
  error: unknown,
  logger: PinoLogger,
  secrets: string[],
  extra: Record<string, unknown> = {},
): ExitCodeValue {
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

function secretsIn(env: Env, flags: CommandFlags): string[] {
  const secrets: string[] = [];
  if (env.PGPASSWORD) secrets.push(env.PGPASSWORD);
  for (const url of [flags.databaseUrl, env.DATABASE_URL]) {
    const match = url === undefined ? null : /^[a-z]+:\/\/[^:/@]*:([^@]*)@/i.exec(url.trim());
    if (match?.[1]) secrets.push(match[1], safeDecode(match[1]));
  }
  return secrets;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function nonEmptyOrUndefined(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

// cron starts jobs in $HOME, so ./.env is only read when it exists; a file named with
// --env-file / SCHEDULER_ENV_FILE must exist.
function loadEnvFile(path: string | undefined): Env {
  const file = path ?? '.env';
  if (!existsSync(file)) {
    if (path !== undefined) throw new ConfigError(`--env-file / SCHEDULER_ENV_FILE: ${path} does not exist`);
    return {};
  }
  try {
    return parseDotenv(readFileSync(file));
  } catch (error) {
    throw new ConfigError(`--env-file: cannot read ${file}`, { cause: error });
  }
}

function definedOnly(env: NodeJS.ProcessEnv): Env {
  const out: Env = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

function hostTimezone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

async function makeLogger(level: string): Promise<PinoLogger> {
  const { pino } = await import('pino');
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

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
