// What the CLI reads from the machine besides argv: the .env file, the host's zone and the
// package version. Each is read once per invocation and passed on, never kept in a module.
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import type { Env } from '../config/config.js';

/**
 * process.env merged over the env file (a variable set in the environment wins), with the
 * `*_FILE` secrets read in.
 */
export async function loadEnvironment(envFileFlag: string | undefined, processEnv: NodeJS.ProcessEnv): Promise<Env> {
  const path = envFileFlag ?? (processEnv.SCHEDULER_ENV_FILE === '' ? undefined : processEnv.SCHEDULER_ENV_FILE);
  return readSecretFiles({ ...(await loadEnvFile(path)), ...definedOnly(processEnv) });
}

// The official database images' convention (Docker and Kubernetes secrets are files):
// X_FILE names a file whose content is X. Never both; the content is never shown.
const SECRET_FILES = ['DATABASE_URL', 'PGPASSWORD'] as const;

function readSecretFiles(env: Env): Env {
  const out = { ...env };
  for (const name of SECRET_FILES) {
    const file = env[`${name}_FILE`];
    if (file === undefined || file === '') continue;
    if (env[name] !== undefined && env[name] !== '') {
      throw new ConfigError(`both ${name} and ${name}_FILE are set; set only one`);
    }
    let content: string;
    try {
      content = readFileSync(file, 'utf8');
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new ConfigError(`${name}_FILE: cannot read ${file}${code ? ` (${code})` : ''}`);
    }
    out[name] = content.replace(/\r?\n$/, '');
    delete out[`${name}_FILE`];
  }
  return out;
}

// cron starts jobs in $HOME, so ./.env is only read when it exists; a file named with
// --settings-file / SCHEDULER_ENV_FILE must exist.
async function loadEnvFile(path: string | undefined): Promise<Env> {
  const file = path ?? '.env';
  if (!existsSync(file)) {
    if (path !== undefined) throw new ConfigError(`--settings-file / SCHEDULER_ENV_FILE: ${path} does not exist`);
    return {};
  }
  try {
    // Loaded only when there is a file to parse: most cron runs have none in $HOME.
    // The default export is dotenv's module.exports, in Node's interop and in the bundle alike.
    const { default: dotenv } = await import('dotenv');
    return dotenv.parse(readFileSync(file));
  } catch (error) {
    throw new ConfigError(`--settings-file: cannot read ${file}`, { cause: error });
  }
}

function definedOnly(env: NodeJS.ProcessEnv): Env {
  const out: Env = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

// The host's zone without starting ICU (~13 ms): TZ, then the /etc/localtime link.
export function hostTimezone(env: NodeJS.ProcessEnv): string {
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

export function packageVersion(): string {
  // dist/cli/index.js and the bundle in dist/bundle/ sit at different depths below package.json.
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'package-scheduler') return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return 'unknown';
}
