// Human-readable rendering of `check`.
import type { CheckReport } from './check.js';

export function formatCheckReport(report: CheckReport): string {
  const lines: string[] = [];
  const due = report.due;
  lines.push(`table      ${report.table}`);
  lines.push(`timezone   ${report.timezone} (now ${due.now})`);
  lines.push(`key        ${report.key.length === 1 ? report.key[0] : `(${report.key.join(', ')}): package ids are its values in this order`}`);
  if (report.citus) lines.push(`citus      ${report.citus.description}`);
  for (const index of report.indexes) lines.push(`index      ${index.name}: ${index.state}`);
  lines.push(
    report.wakeTrigger
      ? 'watch      edits wake run --watch at once (wake trigger installed)'
      : 'watch      no wake trigger: run --watch sees edits within --max-sleep (install it: migrate --wake-trigger)',
  );
  for (const warning of report.warnings) lines.push(`warning    ${warning}`);
  lines.push('');
  const { counts } = due;
  lines.push(`due now: ${counts.activated} to activate, ${counts.deactivated} to deactivate, ${counts.activationSkipped} expired before activation`);
  for (const a of due.activated) lines.push(`  activate    ${a.packageId}${a.name ? ` (${a.name})` : ''}  due ${a.dueAt}, ${a.lateSeconds}s ago`);
  more(lines, counts.activated, due.activated.length, 'to activate');
  for (const s of due.activationSkipped) lines.push(`  skip        ${s.packageId}${s.name ? ` (${s.name})` : ''}  due ${s.dueAt} but valid only until ${s.validUntil}`);
  more(lines, counts.activationSkipped, due.activationSkipped.length, 'to skip');
  for (const d of due.deactivated) lines.push(`  deactivate  ${d.packageId}${d.name ? ` (${d.name})` : ''}  valid until ${d.validUntil}`);
  more(lines, counts.deactivated, due.deactivated.length, 'to deactivate');
  lines.push('');
  lines.push(`misconfigured rows: ${report.misconfiguredCount}`);
  for (const row of report.misconfigured) lines.push(`  ${row.packageId}: ${row.problem}`);
  if (report.misconfiguredCount > report.misconfigured.length) {
    lines.push(`  … and ${report.misconfiguredCount - report.misconfigured.length} more`);
  }
  return `${lines.join('\n')}\n`;
}

/** A backlog is listed only in part (see LIST_LIMIT): say how much is not shown. */
function more(lines: string[], total: number, listed: number, what: string): void {
  if (total > listed) lines.push(`  … and ${total - listed} more ${what}`);
}
