// run's monitoring settings: --metrics-file, --heartbeat-url, --heartbeat-timeout.
import { ConfigError } from '../errors.js';
import { integer, invalid, names, nonEmpty, pick, type Env } from './values.js';

export const HEARTBEAT_TIMEOUT_MS = 5_000;

export interface MonitoringFlags {
  metricsFile?: string;
  heartbeatUrl?: string;
  heartbeatTimeout?: string;
}

export function monitoringSettings(flags: MonitoringFlags, env: Env, folderExists = (_: string) => true) {
  const metricsSource = nonEmpty(pick(flags.metricsFile, env, { flag: '--metrics-file', env: 'SCHEDULER_METRICS_FILE' }));
  const metricsFile = metricsSource?.value.trim();
  if (metricsFile !== undefined) {
    if (metricsFile.endsWith('/')) throw invalid(metricsSource!, `"${metricsFile}" is a folder; name the file, e.g. ${metricsFile}package_scheduler.prom`);
    const folder = metricsFile.includes('/') ? metricsFile.slice(0, metricsFile.lastIndexOf('/')) || '/' : '.';
    // The folder is the machine's state, not a typo in the command line: 78 either way.
    if (!folderExists(folder)) throw new ConfigError(`${names(metricsSource!.setting)}: folder ${folder} does not exist`);
  }
  const urlSource = nonEmpty(pick(flags.heartbeatUrl, env, { flag: '--heartbeat-url', env: 'SCHEDULER_HEARTBEAT_URL' }));
  let heartbeatUrl: string | undefined;
  if (urlSource !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(urlSource.value.trim());
    } catch {
      // never echoed: the URL carries the check's secret token
    }
    if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
      throw invalid(urlSource, 'not an http:// or https:// URL');
    }
    // As given: the ping's suffix goes on the path, before any query (see heartbeat.ts).
    heartbeatUrl = parsed.toString();
  }
  const heartbeatTimeoutMs = integer(
    nonEmpty(pick(flags.heartbeatTimeout, env, { flag: '--heartbeat-timeout', env: 'SCHEDULER_HEARTBEAT_TIMEOUT' })),
    HEARTBEAT_TIMEOUT_MS, 1, 60_000, 'milliseconds',
  );
  return { metricsFile, heartbeatUrl, heartbeatTimeoutMs };
}
