// The commander program: commands, their flags and help texts. Values are validated by
// config.ts, not here: commander only collects strings and switches.
import { Command, Option } from 'commander';
import type { CommandName, Flags } from '../config/config.js';

export type Action = (command: CommandName, flags: Flags) => Promise<void>;

// Every command connects and needs these.
function connectionOptions(cmd: Command): Command {
  return cmd
    .option('--database-url <url>', 'PostgreSQL URL (env DATABASE_URL; else libpq PG* variables)')
    .option('--table <name>', 'packages table, optionally schema-qualified; repeatable, * matches any run of characters (env SCHEDULER_TABLE, comma-separated)', collect)
    .option('--timezone <iana>', "business time zone (env SCHEDULER_TIMEZONE; default: the host's zone)")
    .option('--connect-timeout <ms>', 'connect timeout (env SCHEDULER_CONNECT_TIMEOUT; default 10000)')
    .option('--lock-timeout <ms>', 'lock_timeout inside the transaction (env SCHEDULER_LOCK_TIMEOUT; default 5000)')
    .option('--statement-timeout <ms>', 'statement_timeout inside the transaction (env SCHEDULER_STATEMENT_TIMEOUT; default 30000)')
    .option('--settings-file <path>', 'read settings from this file (env SCHEDULER_ENV_FILE; default: ./.env when present)')
    // Node 20+ checks every `--env-file` in argv, even after the script's name, and exits 9
    // with its own message before this program starts when the file is missing. Still read
    // (an existing file works), but no longer offered: --settings-file is the flag to use.
    .addOption(new Option('--env-file <path>').hideHelp().conflicts('settingsFile'))
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (env LOG_LEVEL; default info)')
    .exitOverride();
}

/** commander calls this for every --table: all of them are kept, in order. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

// The commands that work on many tables (docs/tenants.md). migrate takes one table at a time
// (see src/cli/tenants/commands.ts), so it has no --concurrency.
function tenantOptions(cmd: Command, concurrent = true): Command {
  if (concurrent) cmd.option('--concurrency <n>', 'with several tables: how many at once, one connection each (env SCHEDULER_CONCURRENCY; default 4)');
  return cmd.option('--shard <k/n>', "only the tables in shard k of n, by a hash of each table's name (env SCHEDULER_SHARD, or JOB_COMPLETION_INDEX with SCHEDULER_SHARD_COUNT)");
}

function expiryOption(cmd: Command): Command {
  return cmd.addOption(
    new Option('--expiry <mode>', 'when valid_until has passed: "date" (after that whole day) or "instant" (env SCHEDULER_EXPIRY; default date)'),
  );
}

function timezoneColumnOption(cmd: Command): Command {
  return cmd.option(
    '--timezone-column <ref>',
    "each row's own zone: a column of the table, or table.column reached through a foreign key; --timezone where NULL (env SCHEDULER_TIMEZONE_COLUMN)",
  );
}

function historySchemaOption(cmd: Command): Command {
  return cmd.option('--history-schema <schema>', "schema of the history tables (env SCHEDULER_HISTORY_SCHEMA; default: the packages table's)");
}

function jsonOption(cmd: Command, what: string): Command {
  return cmd.option('--json', `print the ${what} as JSON`);
}

export function buildProgram(version: string, onCommand: Action): Command {
  const action: Action = (command, flags) => onCommand(command, settingsFileFlags(flags));
  const program = new Command('package-scheduler')
    .description('Activates and deactivates scheduled special packages in PostgreSQL, in one transaction per tick.')
    .version(version, '-V, --version')
    .exitOverride()
    .showSuggestionAfterError();

  // The default command receives any word that is not a command: `statuss` must be named as
  // an unknown command (commander would say "too many arguments for 'run'").
  const run = connectionOptions(program.command('run', { isDefault: true }).alias('run-once'))
    .description('apply every due activation and deactivation once (the default command)')
    .allowExcessArguments(true);
  tenantOptions(timezoneColumnOption(expiryOption(run)))
    .option('--max-changes <n>', 'the most rows one transaction changes; a larger backlog takes several, at the same instant (env SCHEDULER_MAX_CHANGES; default 100000)')
    .option('--dry-run', 'report exactly what a real run would do; change nothing')
    .option('--at <timestamp>', 'with --dry-run: evaluate as if now were this ISO 8601 time (no offset: local to --timezone)')
    .option('--every <seconds>', 'stay running and tick every N seconds (env SCHEDULER_EVERY)')
    .option('--no-history', 'do not record run history even where its tables exist (env SCHEDULER_HISTORY=off)');
  historySchemaOption(run)
    .option('--history-days <days>', 'delete history events older than this (env SCHEDULER_HISTORY_DAYS; default 90)')
    .option('--notify <channel>', 'pg_notify this channel after a tick with changes (env SCHEDULER_NOTIFY_CHANNEL)')
    .option('--metrics-file <path>', 'write Prometheus metrics here after each tick, atomically (env SCHEDULER_METRICS_FILE)')
    .option('--heartbeat-url <url>', 'ping <url>/start before and <url>/<exit code> after each tick (env SCHEDULER_HEARTBEAT_URL)')
    .option('--heartbeat-timeout <ms>', 'timeout of each heartbeat ping (env SCHEDULER_HEARTBEAT_TIMEOUT; default 5000)')
    .option('--watch', "stay running and tick at each package's due instant, and when the wake trigger reports an edit (env SCHEDULER_WATCH=on)")
    .option('--max-sleep <seconds>', 'with --watch: tick at least this often, 1 to 3600 (env SCHEDULER_MAX_SLEEP; default 60)')
    .option('--listen-url <url>', 'with --watch: PostgreSQL URL for LISTEN, e.g. direct when DATABASE_URL is a transaction pooler (env SCHEDULER_LISTEN_URL; default: the database URL)')
    .action((flags: Flags, cmd: Command) => {
      if (cmd.args.length > 0) unknownCommand(program, cmd.args[0]!);
      return action('run', flags);
    });

  const migrate = connectionOptions(program.command('migrate'))
    .description('add the scheduling columns, partial indexes (built CONCURRENTLY) and history tables; idempotent')
    .option('--print', 'print the SQL and change nothing')
    .option('--no-history', 'leave out the history tables')
    .option('--wake-trigger', 'also install the trigger that wakes "run --watch" when a schedule is edited');
  tenantOptions(historySchemaOption(migrate), false).action((flags: Flags) => action('migrate', flags));

  const status = connectionOptions(program.command('status'))
    .description('last run, next activations and deactivations, overdue and misconfigured packages');
  tenantOptions(historySchemaOption(timezoneColumnOption(expiryOption(status))))
    .option('--limit <n>', 'how many upcoming changes of each kind to list (default 10)')
    .option('--max-age <seconds>', 'exit 1 when the last successful tick is older than this, or never happened');
  jsonOption(status, 'report').action((flags: Flags) => action('status', flags));

  const history = connectionOptions(program.command('history')).description('recorded changes, newest first');
  historySchemaOption(history)
    .option('--package <id>', "only this package's events")
    .option('--since <time>', 'only events since then (ISO 8601; without an offset: local to --timezone)')
    .option('--limit <n>', 'at most this many events (default 50)');
  jsonOption(history, 'events').action((flags: Flags) => action('history', flags));

  const check = connectionOptions(program.command('check'))
    .description('validate table, columns, zone and indexes; show what is due and misconfigured rows');
  check.option('--max-changes <n>', 'warn when more is due than one transaction of a run changes (env SCHEDULER_MAX_CHANGES; default 100000)');
  jsonOption(tenantOptions(timezoneColumnOption(expiryOption(check))), 'report').action((flags: Flags) => action('check', flags));

  return program;
}

/** --settings-file and the old --env-file are one setting, under the name config.ts reads. */
function settingsFileFlags(flags: Flags & { settingsFile?: string }): Flags {
  const { settingsFile, ...rest } = flags;
  return settingsFile === undefined ? rest : { ...rest, envFile: settingsFile };
}

/** Throws commander's usage error (exit 64): the word, and the command it is closest to. */
function unknownCommand(program: Command, word: string): never {
  const names = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
  const close = names.filter((name) => editDistance(word, name) <= Math.max(1, Math.floor(name.length / 3)));
  const suggestion = close.length > 0 ? `\n(Did you mean ${close.join(', ')}?)` : '';
  program.error(`error: unknown command '${word}'${suggestion}`, { code: 'commander.unknownCommand', exitCode: 64 });
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
