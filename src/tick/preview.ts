// What a tick would do now (or at `options.at`): read-only, logs nothing, records nothing.
import { withTransaction, type Queryable } from '../db/resources.js';
import { preview } from './apply.js';
import { elapsed, openTick, resolveTable } from './context.js';
import { transactionOptions, type PreviewOptions } from './options.js';
import type { TickCompleted } from './result.js';

export async function previewTick(client: Queryable, options: PreviewOptions): Promise<TickCompleted> {
  return withTransaction(client, transactionOptions(options, true), () => previewInTransaction(client, options));
}

/** previewTick's work, for callers (check, status) already inside their own read-only transaction. */
export async function previewInTransaction(client: Queryable, options: PreviewOptions, unknownZones?: string[]): Promise<TickCompleted> {
  const started = performance.now();
  // Nothing is logged: the result's counts and lists are all check and status report.
  const table = await resolveTable(client, options, {});
  const tick = await openTick(client, table, options, { dryRun: true, spool: () => undefined });
  const { result } = await preview(tick, unknownZones);
  result.durationMs = elapsed(started);
  return result;
}
