// The config builder and the pieces it relies on: pure functions, no database.
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../src/config/config.ts';
import { ConfigError, UsageError, exitCodeFor } from '../src/errors.ts';
import { parseQualifiedName, quoteQualified } from '../src/table/identifiers.ts';

const base = { hostTimezone: () => 'Europe/Berlin', command: 'run' as const };
const env = { DATABASE_URL: 'postgres://u:p@db.example:5432/crm' };

describe('buildConfig', () => {
  it('takes a flag over the environment, and the environment over the default', () => {
    expect(buildConfig({}, env, base).timezone).toBe('Europe/Berlin');
    expect(buildConfig({}, { ...env, SCHEDULER_TIMEZONE: 'Asia/Tokyo' }, base).timezone).toBe('Asia/Tokyo');
    expect(buildConfig({ timezone: 'UTC' }, { ...env, SCHEDULER_TIMEZONE: 'Asia/Tokyo' }, base).timezone).toBe('UTC');
    const c = buildConfig({}, env, base);
    expect([c.lockTimeoutMs, c.statementTimeoutMs, c.connection.connectTimeoutMs, c.expiry, c.logLevel]).toEqual([5000, 30000, 10000, 'date', 'info']);
    expect(c.table).toEqual({ name: 'special_packages' });
  });

  it('refuses POSIX zone specs, whose sign PostgreSQL inverts, before connecting', () => {
    expect(() => buildConfig({ timezone: 'UTC+3' }, env, base)).toThrow(ConfigError);
    expect(() => buildConfig({ timezone: 'Europe/Berlin; DROP' }, env, base)).toThrow(ConfigError);
    for (const zone of ['Europe/Berlin', 'America/Argentina/Buenos_Aires', 'America/Port-au-Prince', 'Etc/GMT-14', 'UTC', 'CET']) {
      expect(buildConfig({ timezone: zone }, env, base).timezone).toBe(zone);
    }
  });

  it('falls back to the libpq variables and knows the password is a secret', () => {
    const c = buildConfig({}, { PGHOST: 'db', PGUSER: 'scheduler', PGPASSWORD: 'hunter2', PGDATABASE: 'crm', PGPORT: '6432' }, base);
    expect(c.connection).toMatchObject({ host: 'db', user: 'scheduler', password: 'hunter2', database: 'crm', port: 6432 });
    expect(c.secrets).toContain('hunter2');
  });

  it('refuses bad flag values with a usage error naming flag and variable', () => {
    const error = (() => {
      try {
        buildConfig({ lockTimeout: '1.5' }, env, base);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain('--lock-timeout / SCHEDULER_LOCK_TIMEOUT');
  });

  it('refuses bad environment values with a configuration error', () => {
    expect(() => buildConfig({}, { ...env, SCHEDULER_LOCK_TIMEOUT: 'soon' }, base)).toThrow(ConfigError);
    expect(() => buildConfig({}, { ...env, SCHEDULER_TABLE: '' }, base)).toThrow(ConfigError);
  });

  it('never echoes a malformed URL, which may hold a password', () => {
    expect(() => buildConfig({ databaseUrl: 'postgres://u:s3cret@[bad' }, {}, base)).toThrow(/not a valid URL/);
    try {
      buildConfig({ databaseUrl: 'postgres://u:s3cret@[bad' }, {}, base);
    } catch (e) {
      expect((e as Error).message).not.toContain('s3cret');
    }
  });

  it('allows --at only with --dry-run and checks it is a real timestamp', () => {
    expect(() => buildConfig({ at: '2026-01-01T09:00' }, env, base)).toThrow(UsageError);
    expect(buildConfig({ at: '2026-01-01T09:00', dryRun: true }, env, base).at).toBe('2026-01-01T09:00');
    expect(buildConfig({ at: '2026-01-01T09:00:00+05:30', dryRun: true }, env, base).at).toBe('2026-01-01T09:00:00+05:30');
    expect(() => buildConfig({ at: '2026-13-01T09:00', dryRun: true }, env, base)).toThrow(UsageError);
    expect(() => buildConfig({ at: '2026-01-01T25:00', dryRun: true }, env, base)).toThrow(UsageError);
  });
});

describe('parseQualifiedName', () => {
  it.each([
    ['special_packages', { name: 'special_packages' }],
    ['Special_Packages', { name: 'special_packages' }],
    ['crm.special_packages', { schema: 'crm', name: 'special_packages' }],
    ['"CRM"."Promo ""2026"""', { schema: 'CRM', name: 'Promo "2026"' }],
  ])('%s parses as PostgreSQL would', (input, expected) => {
    expect(parseQualifiedName(input)).toEqual(expected);
  });

  it.each([
    'x; DROP TABLE special_packages',
    "x' OR '1'='1",
    'x--comment',
    'x/*c*/',
    'ѕpecial_packages', // Cyrillic "ѕ"
    'a.b.c',
    '"unterminated',
    '',
    '""',
  ])('%j is refused', (input) => {
    expect(typeof parseQualifiedName(input)).toBe('string');
  });

  it('quotes every part so no name can break out of its identifier', () => {
    expect(quoteQualified({ schema: 'a"b', name: 'c' })).toBe('"a""b"."c"');
  });
});

describe('exitCodeFor', () => {
  const withCode = (code: string) => Object.assign(new Error('x'), { code });
  it.each([
    ['ECONNREFUSED', 75], ['ETIMEDOUT', 75], ['EAI_AGAIN', 75], ['ENOTFOUND', 78],
    ['57014', 75], ['55P03', 75], ['40001', 75], ['40P01', 75], ['57P01', 75], ['08006', 75], ['53300', 75],
    ['28P01', 78], ['28000', 78], ['3D000', 78], ['42P01', 78], ['42501', 78],
    ['P0001', 70], ['23505', 70],
  ])('%s maps to %i', (code, exit) => {
    expect(exitCodeFor(withCode(code))).toBe(exit);
  });

  it('looks inside an AggregateError and through causes', () => {
    expect(exitCodeFor(new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')]))).toBe(75);
    expect(exitCodeFor(new Error('wrapped', { cause: withCode('28P01') }))).toBe(78);
    expect(exitCodeFor(new Error('no code'))).toBe(70);
  });
});
