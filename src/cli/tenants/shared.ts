// What every command on many tables shares: the pool, the resolved tables, each table's
// failure reported on its own (one JSON line naming the table, one stderr line), and stopping
// after the tables in progress on SIGTERM/SIGINT.
import type pg from 'pg';
import type { Config } from '../../config/config.js';
import { describeError, exitCodeFor, sqlstateOf } from '../../errors.js';
import { forEachBounded, withPool } from '../../tenants/pool.js';
import { resolveTargets, type Resolved, type Target } from '../../tenants/resolve.js';
import { scrub } from '../failure.js';
import type { PinoLogger } from '../log.js';

export interface ManyTables {
  resolved: Resolved;
  /** Set once a signal asked the run to stop: tables not yet started are left for the next run. */
  stopped: boolean;
}

/**
 * Resolves the tables on one of the pool's connections (so the run never holds more than
 * --concurrency connections), then runs `work` for each, --concurrency at a time.
 */
export async function forEachTable<R>(
  config: Config,
  work: (client: pg.PoolClient, target: Target) => Promise<R>,
  onFailure: (target: Target, error: unknown) => R,
): Promise<ManyTables & { results: (R | undefined)[] }> {
  const state = { stopped: false };
  const stop = () => void (state.stopped = true);
  const signals = ['SIGTERM', 'SIGINT'] as const;
  // once: a second signal still finds no listener of ours, and kills the process as usual.
  for (const s of signals) process.once(s, stop);
  try {
    return await withPool(config.connection, config.concurrency, async (pool) => {
      const limits = { lockTimeoutMs: config.lockTimeoutMs, statementTimeoutMs: config.statementTimeoutMs };
      const resolved = await pool.withClient((client) => resolveTargets(client, config.tables!, config.shard, limits));
      const results = await forEachBounded(
        resolved.targets,
        config.concurrency,
        (target) => pool.withClient((client) => work(client, target)).catch((error: unknown) => onFailure(target, error)),
        () => state.stopped,
      );
      return { resolved, results, stopped: state.stopped };
    });
  } finally {
    for (const s of signals) process.off(s, stop);
  }
}

/** One table's failure: `<event>` with the table, and `package-scheduler: <table>: <message>` on stderr. */
export function reportTableFailure(event: string, table: string, error: unknown, logger: PinoLogger | undefined, secrets: string[], extra: Record<string, unknown> = {}): number {
  const exitCode = exitCodeFor(error);
  const message = scrub(describeError(error), secrets);
  const code = sqlstateOf(error);
  logger?.error({ event, table, exitCode, ...(code ? { code } : {}), error: message, ...extra }, message);
  process.stderr.write(`package-scheduler: ${table}: ${message}\n`);
  return exitCode;
}

export function shardText(config: Config): string | undefined {
  return config.shard ? `${config.shard.index}/${config.shard.count}` : undefined;
}
