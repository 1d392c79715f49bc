// Many tables over one pg.Pool of at most `size` connections, `size` tables at a time. The
// pool exists only on the many-tables path: one table keeps its single pg.Client (no pool to
// load or start). Every command still leaves no setting on a connection (SET LOCAL, or reset),
// so a connection can go from one table's tick to the next.
import pg from 'pg';
import { clientConfig, connectError, PooledClient, type ConnectionOptions } from '../db/resources.js';
import { errorCode, TemporaryError } from '../errors.js';

export interface TablePool {
  /** Runs `fn` on a connection of the pool; a connection that saw any error is closed, not reused. */
  withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
}

const END_GRACE_MS = 2000;

export async function withPool<T>(options: ConnectionOptions, size: number, fn: (pool: TablePool) => Promise<T>): Promise<T> {
  // allowExitOnIdle: an idle connection never keeps the process alive (cron must see it end).
  const clients: PooledClient[] = [];
  const Client = class extends PooledClient {
    constructor(config?: pg.ClientConfig) {
      super(config);
      clients.push(this);
    }
  };
  const pool = new pg.Pool({ ...clientConfig(options), max: size, allowExitOnIdle: true, idleTimeoutMillis: 10_000, Client });
  // An idle connection the server drops is an 'error' on the pool: without a listener it would
  // kill the process; the next table simply gets a new connection.
  pool.on('error', () => {});
  const tablePool: TablePool = {
    async withClient(work) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        // The client that failed is the last one made; it says whether a password was missing.
        throw connectError(error, clients.at(-1)?.passwordMissingFor);
      }
      let lost: unknown;
      const onError = (error: unknown) => (lost = error);
      client.on('error', onError);
      let failed = false;
      try {
        return await work(client);
      } catch (error) {
        failed = true;
        // As withConnection: a connection that died mid-query reports no code of its own.
        if (lost !== undefined && errorCode(error) === undefined) throw new TemporaryError('the database connection was lost', { cause: lost });
        throw error;
      } finally {
        client.off('error', onError);
        // After an error the connection's state is not worth trusting (a COMMIT that failed, a
        // portal left open): it is closed, and the next table gets a fresh one.
        client.release(failed || lost !== undefined);
      }
    },
  };
  try {
    return await fn(tablePool);
  } finally {
    await endPool(pool);
  }
}

// A half-open socket must not keep the process alive: ask politely, then stop waiting (the
// connections are idle and allowExitOnIdle unrefs them).
async function endPool(pool: pg.Pool): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, END_GRACE_MS);
    timer.unref();
  });
  await Promise.race([pool.end().catch(() => {}), deadline]);
  clearTimeout(timer);
}

/**
 * Runs `work` for every item, at most `concurrency` at a time, in order of the list; `work`
 * must not throw (each item's failure is its own result). Stops starting new items once
 * `stopping()` says so.
 */
export async function forEachBounded<I, R>(
  items: readonly I[],
  concurrency: number,
  work: (item: I, index: number) => Promise<R>,
  stopping: () => boolean = () => false,
): Promise<(R | undefined)[]> {
  const results: (R | undefined)[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length && !stopping()) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
