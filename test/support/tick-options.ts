import type { TickOptions } from '../../src/tick/tick.ts';

export function tickOptions(extra: Partial<TickOptions> = {}): TickOptions {
  return {
    table: { name: 'special_packages' },
    timezone: 'Europe/Berlin',
    expiry: 'date',
    dryRun: false,
    lockTimeoutMs: 5000,
    statementTimeoutMs: 30000,
    ...extra,
  };
}
