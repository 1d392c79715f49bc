// The only module that touches the process: argv, process.env, the .env file, stdout/stderr,
// signals and the exit code. It parses, builds the Config, hands it to one command and sets
// process.exitCode; it never calls process.exit, so open handles close on their own.
import { statSync } from 'node:fs';
import { CommanderError } from 'commander';
import { buildConfig, logLevelSetting, secretsOf, type CommandName, type Env, type Flags } from '../config/config.js';
import { ExitCode, describeError } from '../errors.js';
import type { CommandHandler } from './commands/context.js';
import { hostTimezone, loadEnvironment, packageVersion } from './environment.js';
import { FAILED_EVENT, reportFailure } from './failure.js';
import { lostLog, makeLogger, routeWarnings, type WarningRoute } from './log.js';
import { buildProgram } from './program.js';
import { warnIfHostZone } from './zone-warning.js';

// Loaded on demand, so a cron run of `run` never parses the code of status or migrate.
const COMMANDS: Record<CommandName, () => Promise<CommandHandler>> = {
  run: async () => (await import('./commands/run.js')).run,
  migrate: async () => (await import('./commands/migrate.js')).migrate,
  check: async () => (await import('./commands/check.js')).check,
  status: async () => (await import('./commands/status.js')).status,
  history: async () => (await import('./commands/history.js')).history,
};

export async function cli(argv: string[] = process.argv, processEnv: NodeJS.ProcessEnv = process.env): Promise<void> {
  const warnings = routeWarnings();
  const version = packageVersion();
  let exitCode: number = ExitCode.ok;
  const program = buildProgram(version, async (command, flags) => {
    exitCode = await execute(command, flags, { processEnv, version, warnings });
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

interface Invocation {
  processEnv: NodeJS.ProcessEnv;
  version: string;
  warnings: WarningRoute;
}

async function execute(command: CommandName, flags: Flags, { processEnv, version, warnings }: Invocation): Promise<number> {
  let env: Env = {};
  let secrets: string[] = [];
  let logger;
  try {
    env = await loadEnvironment(flags.envFile, processEnv);
    secrets = secretsOf(flags, env);
    if (command === 'migrate' && flags.print) return await (await import('./commands/migrate.js')).printMigration(flags, env);
    const config = buildConfig(flags, env, { hostTimezone: () => hostTimezone(processEnv), command, folderExists });
    logger = warnings.logger = await makeLogger(config.logLevel);
    warnIfHostZone(command, config, logger);
    const handler = await COMMANDS[command]();
    // A log line that could not be written (a full disk) is reported here if the command has not.
    return lostLog(logger, await handler(config, { logger, version }));
  } catch (error) {
    logger ??= await makeLogger(requestedLogLevel(flags, env));
    return reportFailure(FAILED_EVENT[command], error, logger, secrets);
  }
}

function folderExists(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The level asked for, even when another setting failed validation; info if it is itself invalid. */
function requestedLogLevel(flags: Flags, env: Env): string {
  try {
    return logLevelSetting(flags, env);
  } catch {
    return 'info';
  }
}
