// The resource wrappers, each acquiring one thing and releasing it in `finally`, from one
// import point: connections (connection.ts), transactions and session limits (transaction.ts),
// statements, paged results and the advisory lock (query.ts).
export { clientConfig, closeClient, connectError, openConnection, PooledClient, withConnection, type ConnectionOptions, type OpenConnection } from './connection.js';
export { awaitInTransaction, explainReadOnly, IDLE_FLOOR_MS, IDLE_WITHOUT_STATEMENT_TIMEOUT_MS, withSessionLimits, withTransaction, type TransactionOptions } from './transaction.js';
export { query, readPages, tryAdvisoryXactLock, type Queryable } from './query.js';
