// Human-readable rendering of `status` and `history`.
import type { HistoryEvent } from '../history/history.js';
import type { StatusReport, Upcoming } from './status.js';

export function formatDuration(seconds: number): string {
  const s = Math.abs(Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function table(rows: string[][]): string[] {
  if (rows.length === 0) return [];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => '  ' + r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}

function upcoming(title: string, list: Upcoming[]): string[] {
  if (list.length === 0) return [`${title}: none`];
  return [`${title}:`, ...table([['id', 'name', 'at (local)', 'zone', 'in'], ...list.map((u) => [u.packageId, u.name ?? '', u.at, u.timezone, formatDuration(u.inSeconds)])])];
}

export function formatStatus(report: StatusReport): string {
  const lines: string[] = [];
  lines.push(`table     ${report.table}`);
  lines.push(`timezone  ${report.timezone} (now ${report.now})`);
  const last = report.lastRun;
  if (!report.historyEnabled) {
    lines.push('history   off: no history tables (run "package-scheduler migrate" to keep run history)');
  } else if (!last) {
    lines.push('last run  never recorded');
  } else {
    const age = last.lastSuccessAgeSeconds === null ? 'never' : `${last.lastSuccessAt} (${formatDuration(last.lastSuccessAgeSeconds)} ago)`;
    lines.push(`last success  ${age}`);
    lines.push(`last outcome  ${last.outcome} at ${last.lastTickFinishedAt} on ${last.runnerHost ?? '?'} (v${last.runnerVersion ?? '?'})`);
    if (last.outcome === 'failed') lines.push(`last error    ${last.errorCode ? `[${last.errorCode}] ` : ''}${last.errorMessage ?? ''}`);
    else lines.push(`last counts   ${last.activated ?? 0} activated, ${last.deactivated ?? 0} deactivated, ${last.activationSkipped ?? 0} skipped`);
  }
  const c = report.counts;
  for (const warning of report.warnings) lines.push(`warning   ${warning}`);
  lines.push(`packages  ${c.scheduled} scheduled, ${c.active} active (${c.activeWithAutoDeactivate} with auto_deactivate), ${c.dueNow} due now, ${c.misconfigured} misconfigured`);
  lines.push('');
  lines.push(...upcoming('next activations', report.nextActivations));
  lines.push(...upcoming('next deactivations', report.nextDeactivations));
  lines.push(`next due instant: ${report.nextDueAt ?? 'none'}`);
  lines.push('');
  if (report.overdue.length === 0) lines.push('overdue: none');
  else lines.push('overdue:', ...table(report.overdue.map((o) => [o.packageId, o.name ?? '', o.action, o.reason])));
  if (report.misconfigured.length > 0) {
    lines.push('misconfigured:', ...table(report.misconfigured.map((m) => [m.packageId, m.problem])));
  }
  return `${lines.join('\n')}\n`;
}

export function formatHistory(events: HistoryEvent[]): string {
  if (events.length === 0) return 'no events\n';
  const rows = events.map((e) => [
    e.happenedAt,
    e.packageId,
    e.action,
    e.action === 'deactivated' ? `valid until ${e.validUntil}` : `due ${e.dueAt}${e.reason ? ` (${e.reason}, valid until ${e.validUntil})` : ''}`,
    e.runId,
  ]);
  return `${table([['happened (UTC)', 'package', 'action', 'detail', 'run'], ...rows]).join('\n')}\n`;
}
