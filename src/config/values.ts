// The building blocks of config.ts: where a value came from (flag or variable), and checks
// whose messages name what the user typed. A bad flag is a usage error (64); a bad variable
// is a configuration error (78).
import { ConfigError, UsageError } from '../errors.js';

export type Env = Record<string, string | undefined>;

export interface Setting {
  flag?: string;
  env?: string;
}

/** A value with its origin, so an error names what the user actually typed. */
export interface Sourced {
  value: string;
  from: 'flag' | 'env';
  setting: Setting;
}

/** Flag > variable (the caller has already merged process.env over the .env file). */
export function pick(flagValue: string | undefined, env: Env, setting: Setting): Sourced | undefined {
  if (flagValue !== undefined) return { value: flagValue, from: 'flag', setting };
  const envValue = setting.env === undefined ? undefined : env[setting.env];
  if (envValue !== undefined) return { value: envValue, from: 'env', setting };
  return undefined;
}

export function names(setting: Setting): string {
  return [setting.flag, setting.env].filter(Boolean).join(' / ');
}

export function invalid(source: Sourced, problem: string): Error {
  const message = `invalid ${names(source.setting)}: ${problem}`;
  return source.from === 'flag' ? new UsageError(message) : new ConfigError(message);
}

/** An empty value is an error, not "unset": `DATABASE_URL=` in a crontab is a mistake. */
export function nonEmpty(source: Sourced | undefined): Sourced | undefined {
  if (source !== undefined && source.value.trim() === '') throw invalid(source, 'empty value');
  return source;
}

export function integer(source: Sourced | undefined, fallback: number, min: number, max: number, unit: string): number {
  if (source === undefined) return fallback;
  const text = source.value.trim();
  if (!/^\d+$/.test(text)) throw invalid(source, `"${source.value}" is not a whole number of ${unit}`);
  const n = Number(text);
  if (n < min || n > max) throw invalid(source, `${text} is out of range (${min} to ${max} ${unit})`);
  return n;
}

/** One of a fixed set of words, trimmed (and lower-cased when `fold`). */
export function oneOf<T extends string>(source: Sourced | undefined, allowed: readonly T[], fallback: T, fold = false): T {
  if (source === undefined) return fallback;
  const text = fold ? source.value.trim().toLowerCase() : source.value.trim();
  if (!(allowed as readonly string[]).includes(text)) {
    throw invalid(source, `"${source.value}" is not ${allowed.length === 2 ? allowed.map((a) => `"${a}"`).join(' or ') : `one of ${allowed.join(', ')}`}`);
  }
  return text as T;
}
