// Without --timezone and SCHEDULER_TIMEZONE the business zone is the host's (TZ, else
// /etc/localtime): often UTC on servers and in containers, which is rarely the salons' zone.
// `run` says so once per invocation (an --every loop at its start, not per tick), as a JSON
// warn line among its other log lines. check and status need no warning: their report's first
// lines name the zone they used.
import type { CommandName, Config } from '../config/config.js';
import type { PinoLogger } from './log.js';

export function warnIfHostZone(command: CommandName, config: Config, logger: PinoLogger): void {
  if (command !== 'run' || !config.timezoneFromHost) return;
  logger.warn(
    { event: 'config.timezone_from_host', timezone: config.timezone },
    `no --timezone or SCHEDULER_TIMEZONE: using the host's zone ${config.timezone}; set SCHEDULER_TIMEZONE (e.g. Europe/Berlin) to the zone the schedules are in`,
  );
}
