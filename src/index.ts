// Public API for programs that embed the scheduler instead of running the CLI.
export { runTick, previewTick, lockKey, notificationPayload } from './tick/tick.js';
export type { TickOptions, PreviewOptions, HistorySetting, TickResult, TickCompleted, TickSkipped, Activation, Deactivation, SkippedActivation, ExpiryMode } from './tick/tick.js';
export { migrate } from './migrate/migrate.js';
export type { MigrateOptions, MigrateResult } from './migrate/migrate.js';
export { check } from './check/check.js';
export type { CheckOptions, CheckReport } from './check/check.js';
export { status } from './status/status.js';
export type { StatusOptions, StatusReport } from './status/status.js';
export { readHistory } from './history/history.js';
export type { HistoryQuery, HistoryEvent } from './history/history.js';
export { migrationSql } from './migrate/migration-sql.js';
export { withConnection, withTransaction, tryAdvisoryXactLock } from './db/resources.js';
export type { ConnectionOptions, Queryable } from './db/resources.js';
export { parseQualifiedName } from './table/identifiers.js';
export type { QualifiedName } from './table/identifiers.js';
export type { Logger } from './logger.js';
export { ExitCode, exitCodeFor, UsageError, ConfigError, TemporaryError } from './errors.js';
