// --heartbeat-url: Healthchecks-style pings. GET <url>/start before connecting, then
// POST <url>/<exit code> with a short text body after the tick. A ping never changes the exit
// code; a failed one is one warning line that names the host only (the path is a secret).
import type { PinoLogger } from '../cli/log.js';

export interface Heartbeat {
  url: string;
  timeoutMs: number;
  logger: PinoLogger;
}

export function pingStart(heartbeat: Heartbeat): Promise<void> {
  return ping(heartbeat, 'start', 'GET');
}

export function pingEnd(heartbeat: Heartbeat, exitCode: number, body: string): Promise<void> {
  return ping(heartbeat, String(exitCode), 'POST', body);
}

/**
 * The URL of one ping and the credentials it carries. The suffix goes on the path, before any
 * query (`…/abc?create=1` pings `…/abc/start?create=1`); `user:password@` moves into a Basic
 * Authorization header, because Node's fetch refuses a URL with credentials in it.
 */
export function pingRequest(url: string, suffix: string): { url: string; authorization?: string } {
  const target = new URL(url);
  const authorization =
    target.username || target.password
      ? `Basic ${Buffer.from(`${decoded(target.username)}:${decoded(target.password)}`).toString('base64')}`
      : undefined;
  target.username = '';
  target.password = '';
  target.hash = '';
  target.pathname = `${target.pathname.replace(/\/+$/, '')}/${suffix}`;
  return { url: target.toString(), ...(authorization ? { authorization } : {}) };
}

// The URL keeps credentials percent-encoded; a stray % that encodes nothing is taken as itself.
function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

async function ping(heartbeat: Heartbeat, suffix: string, method: 'GET' | 'POST', body?: string): Promise<void> {
  const host = new URL(heartbeat.url).host;
  try {
    const request = pingRequest(heartbeat.url, suffix);
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'text/plain; charset=utf-8';
    if (request.authorization) headers.authorization = request.authorization;
    const response = await fetch(request.url, {
      method,
      body,
      headers,
      signal: AbortSignal.timeout(heartbeat.timeoutMs),
      redirect: 'follow',
    });
    await response.arrayBuffer(); // drain, so the socket is released
    if (!response.ok) {
      heartbeat.logger.warn({ event: 'heartbeat.failed', host, ping: suffix, status: response.status }, `heartbeat ping to ${host} answered ${response.status}`);
    }
  } catch (error) {
    heartbeat.logger.warn({ event: 'heartbeat.failed', host, ping: suffix, reason: reasonOf(error) }, `heartbeat ping to ${host} failed: ${reasonOf(error)}`);
  }
}

// A code or a class name, never a message: undici's messages can include the URL.
function reasonOf(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'timeout';
  const cause = error instanceof Error ? (error.cause as { code?: string } | undefined) : undefined;
  return cause?.code ?? (error instanceof Error ? error.name : 'error');
}
