-- package-scheduler: scheduling columns and the partial indexes that keep a tick cheap.
-- Idempotent. Run it outside a transaction (psql without --single-transaction):
-- CREATE INDEX CONCURRENTLY builds without blocking the CRM's writes.
-- Adding a column with a constant default only changes the catalog (PostgreSQL 11+).
-- If an index build was interrupted, PostgreSQL leaves it INVALID and IF NOT EXISTS will
-- not rebuild it: DROP INDEX CONCURRENTLY it and run this again (package-scheduler migrate does).
-- A partitioned table (PARTITION BY …) cannot take CREATE INDEX CONCURRENTLY. For one,
-- package-scheduler migrate builds each index the way PostgreSQL documents instead:
--   CREATE INDEX IF NOT EXISTS <index> ON ONLY <table> (…) WHERE …;   -- invalid for now
--   -- for each partition: CREATE INDEX CONCURRENTLY IF NOT EXISTS <partition>_due_…_idx
--   --                     ON <partition> (…) WHERE …;
--   ALTER INDEX <index> ATTACH PARTITION <partition>_due_…_idx;
-- and the parent index becomes valid once every partition's index is attached.

ALTER TABLE "special_packages"
  ADD COLUMN IF NOT EXISTS scheduled boolean NOT NULL DEFAULT false,
  ADD COLUMN IF NOT EXISTS auto_activate boolean NOT NULL DEFAULT false,
  ADD COLUMN IF NOT EXISTS auto_deactivate boolean NOT NULL DEFAULT false,
  ADD COLUMN IF NOT EXISTS schedule_date date,
  ADD COLUMN IF NOT EXISTS schedule_time time;

-- Serves activation (rule 1): rows with scheduled AND auto_activate, by due date.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "special_packages_due_activation_idx"
  ON "special_packages" (schedule_date, schedule_time)
  WHERE scheduled AND auto_activate;

-- Serves deactivation (rule 3): active rows with auto_deactivate, by valid_until.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "special_packages_due_deactivation_idx"
  ON "special_packages" (valid_until)
  WHERE is_active AND auto_deactivate;

-- Run history for "package-scheduler status" and "history" (leave out with migrate --no-history).
CREATE TABLE IF NOT EXISTS "package_scheduler_state" (
  packages_table          text PRIMARY KEY,
  last_run_id             uuid,
  last_tick_started_at    timestamptz,
  last_tick_finished_at   timestamptz,
  last_success_at         timestamptz,
  last_outcome            text CHECK (last_outcome IN ('completed', 'skipped', 'failed')),
  last_error_code         text,
  last_error_message      text,
  last_activated          integer,
  last_deactivated        integer,
  last_activation_skipped integer,
  runner_version          text,
  runner_host             text
);

CREATE TABLE IF NOT EXISTS "package_scheduler_events" (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id         uuid NOT NULL,
  packages_table text NOT NULL,
  package_id     text NOT NULL,
  action         text NOT NULL CHECK (action IN ('activated', 'deactivated', 'activation_skipped')),
  reason         text,
  due_at         text,
  valid_until    text,
  timezone       text NOT NULL,
  happened_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS package_scheduler_events_package_idx
  ON "package_scheduler_events" (packages_table, package_id, happened_at DESC);

CREATE INDEX IF NOT EXISTS package_scheduler_events_happened_at_idx
  ON "package_scheduler_events" (happened_at);
