// Without --timezone and SCHEDULER_TIMEZONE the business zone is the host's (TZ, else
// /etc/localtime): often UTC on servers and in containers, which is rarely the salons' zone.
// Said once per invocation (an --every loop says it at start), never per tick.
import type { CommandName, Config } from '../config.js';
import type { PinoLogger } from './log.js';

const USES_ZONE: readonly CommandName[] = ['run', 'check', 'status'];

export function warnIfHostZone(command: CommandName, config: Config, logger: PinoLogger): void {
  if (!config.timezoneFromHost || !USES_ZONE.includes(command)) return;
  const message = `no --timezone or SCHEDULER_TIMEZONE: using the host's zone ${config.timezone}; set SCHEDULER_TIMEZONE (e.g. Europe/Berlin) to say which zone schedules are in`;
  // run logs JSON lines on stdout; check and status print their report there, so it goes to stderr.
  if (command === 'run') logger.warn({ event: 'config.timezone_from_host', timezone: config.timezone }, message);
  else process.stderr.write(`package-scheduler: warning: ${message}\n`);
}
