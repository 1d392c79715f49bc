-- package-scheduler: scheduling columns and the partial indexes that keep a tick cheap.
-- Idempotent. Run it outside a transaction (psql without --single-transaction):
-- CREATE INDEX CONCURRENTLY builds without blocking the CRM's writes.
-- Adding a column with a constant default only changes the catalog (PostgreSQL 11+).
-- If an index build was interrupted, PostgreSQL leaves it INVALID and IF NOT EXISTS will
-- not rebuild it: DROP INDEX CONCURRENTLY it and run this again (package-scheduler migrate does).

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
