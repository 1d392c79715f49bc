// Public API for programs that embed the scheduler instead of running the CLI.
export { runTick, previewTick, lockKey, notificationPayload } from './tick.js';
export type { TickOptions, PreviewOptions, HistorySetting, TickResult, TickCompleted, TickSkipped, Activation, Deactivation, SkippedActivation, ExpiryMode } from './tick.js';
export { migrate } from './migrate.js';
export type { MigrateOptions, MigrateResult } from './migrate.js';
export { check } from './check.js';
export type { CheckOptions, CheckReport } from './check.js';
export { status } from './status.js';
export type { StatusOptions, StatusReport } from './status.js';
export { readHistory } from './history.js';
export type { HistoryQuery, HistoryEvent } from './history.js';
export { migrationSql } from './sql/migration-sql.js';
export { withConnection, withTransaction, tryAdvisoryXactLock } from './db.js';
export type { ConnectionOptions, Queryable } from './db.js';
export { parseQualifiedName } from './identifiers.js';
export type { QualifiedName } from './identifiers.js';
export type { Logger } from './logger.js';
export { ExitCode, exitCodeFor, UsageError, ConfigError, TemporaryError } from './errors.js';
