// The wake trigger (`migrate --wake-trigger`): a CRM edit that can move a package's due instant
// sends pg_notify on the table's wake channel, so a `run --watch` process recomputes its next due
// instant at once instead of within --max-sleep. Silent for the scheduler's own updates: each
// tick marks its transaction (package_scheduler.tick, SET LOCAL), so no tick ever wakes a watcher.
import { quoteIdent, quoteQualified, type QualifiedName } from '../table/identifiers.js';

export const WAKE_TRIGGER = 'package_scheduler_wake';
const WAKE_FUNCTION = 'package_scheduler_wake';

/** The columns whose change can move a due instant (rules 1 and 4). */
export const WAKE_COLUMNS = ['schedule_date', 'schedule_time', 'scheduled', 'auto_activate', 'auto_deactivate', 'valid_until', 'is_active'] as const;

/**
 * The wake channel of a table, as SQL over its schema and name (text expressions): defined once,
 * used by the trigger and by the watcher that LISTENs. `package_scheduler_wake:schema.table`, or
 * past NOTIFY's 63-byte limit, the same prefix and an md5 of that text.
 */
export function wakeChannelSql(schema: string, name: string): string {
  const full = `('package_scheduler_wake:' || ${schema} || '.' || ${name})`;
  return `(CASE WHEN octet_length(${full}) <= 63 THEN ${full} ELSE 'package_scheduler_wake_' || md5(${full}) END)`;
}

/** The function (in the table's schema) and both triggers; idempotent, one transaction. */
export function wakeTriggerSql(table: QualifiedName): string {
  const fn = table.schema === undefined ? quoteIdent(WAKE_FUNCTION) : `${quoteIdent(table.schema)}.${quoteIdent(WAKE_FUNCTION)}`;
  const t = quoteQualified(table);
  const changed = WAKE_COLUMNS.map((c) => `OLD.${c} IS DISTINCT FROM NEW.${c}`).join('\n          OR ');
  return `-- Wake trigger: tells "run --watch" (LISTEN) when a schedule may have moved.
CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $wake$
BEGIN
  -- A tick marks its own transaction: its updates must not wake the watcher that made them.
  IF current_setting('package_scheduler.tick', true) = 'on' THEN
    RETURN NULL;
  END IF;
  -- Delivered on COMMIT only, once per transaction (identical notifications are folded).
  PERFORM pg_notify(${wakeChannelSql('TG_TABLE_SCHEMA', 'TG_TABLE_NAME')}, '');
  RETURN NULL;
END
$wake$;
DROP TRIGGER IF EXISTS ${WAKE_TRIGGER} ON ${t};
CREATE TRIGGER ${WAKE_TRIGGER} AFTER UPDATE OF ${WAKE_COLUMNS.join(', ')} ON ${t}
  FOR EACH ROW WHEN (${changed})
  EXECUTE FUNCTION ${fn}();
DROP TRIGGER IF EXISTS ${WAKE_TRIGGER}_insert ON ${t};
CREATE TRIGGER ${WAKE_TRIGGER}_insert AFTER INSERT ON ${t}
  FOR EACH STATEMENT EXECUTE FUNCTION ${fn}();
`;
}

/** Whether the wake trigger is installed and enabled on the table (for check). `table`: a regclass text parameter reference. */
export function wakeTriggerInstalledSql(table: string): string {
  return `SELECT count(*) = 2 AS installed FROM pg_trigger
   WHERE tgrelid = ${table}::regclass AND tgname IN ('${WAKE_TRIGGER}', '${WAKE_TRIGGER}_insert') AND tgenabled <> 'D'`;
}
