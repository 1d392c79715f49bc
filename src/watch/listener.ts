// The watcher's LISTEN connection, dedicated (a tick's connection may go through a transaction
// pooler, where LISTEN is silently lost). Never silently deaf: TCP keepalive, and every
// CHECK_EVERY_MS a query that must answer within CHECK_TIMEOUT_MS and must find the channel in
// pg_listening_channels(); otherwise the connection is dropped and made again with backoff.
// After each (re)connect it LISTENs first and only then reports `listening`, so the watcher's
// next recomputation sees every edit made while it was deaf.
import type pg from 'pg';
import { describeError, errorCode, sqlstateOf } from '../errors.js';
import { closeClient, openConnection, type ConnectionOptions } from '../db/resources.js';
import type { Logger } from '../logger.js';
import { quoteIdent, quoteQualified, type QualifiedName } from '../table/identifiers.js';
import { wakeChannelSql } from '../migrate/wake-trigger.js';

const CHECK_EVERY_MS = 30_000;
const CHECK_TIMEOUT_MS = 5_000;
const BACKOFF_MS = [500, 1000, 2000, 5000, 10_000, 30_000];
/** Payload prefix of the listener's own probe notifications, never a wake-up. */
const PROBE = 'package-scheduler:probe:';

export interface ListenerEvents {
  /** A notification arrived on the wake channel. */
  notified(): void;
  /** LISTEN is in place (after the first connect and after each reconnect). */
  listening(channel: string): void;
}

export class WakeListener {
  private client: pg.Client | undefined;
  private channel: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  /** Probes sent on the channel and waiting to come back (listeningOn). */
  private readonly probes = new Map<string, () => void>();
  private probeCount = 0;

  constructor(
    private readonly options: ConnectionOptions,
    private readonly table: QualifiedName,
    private readonly logger: Logger,
    private readonly events: ListenerEvents,
    /** Error text for the log, passwords scrubbed. */
    private readonly describe: (error: unknown) => string = describeError,
    /**
     * Sends the probe notification from another session (the ticks' database URL). Through a
     * transaction pooler a session's own NOTIFY can come back on the same server connection
     * while a real edit's never does: only a notification from elsewhere proves it hears.
     */
    private readonly sendProbe?: (channel: string, payload: string) => Promise<void>,
  ) {}

  start(): void {
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.drop();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      const { client } = await openConnection(this.options, { keepAlive: true });
      // stop() may have come while the connection was being opened: it must not outlive it.
      if (this.stopped) {
        await closeClient(client);
        return;
      }
      this.client = client;
      client.on('error', (error) => this.lost(error));
      client.on('end', () => this.lost(undefined));
      // The dedicated connection idles by design: a DBA's idle_session_timeout (PostgreSQL 14+)
      // must not end it every few seconds (this session only; --listen-url is never a pooler).
      await client.query(`SELECT set_config(name, '0', false) FROM pg_settings WHERE name = 'idle_session_timeout'`);
      const channel = await this.channelOf(client);
      client.on('notification', (n) => {
        if (n.channel !== channel) return;
        if (n.payload?.startsWith(PROBE)) this.probes.get(n.payload)?.();
        else this.events.notified();
      });
      await client.query(`LISTEN ${quoteIdent(channel)}`);
      if (!(await this.listeningOn(client, channel))) throw new DeafError();
      this.channel = channel;
      this.failures = 0;
      this.logger.debug({ event: 'watch.listening', channel }, 'listening for schedule edits');
      this.events.listening(channel);
      this.schedule(CHECK_EVERY_MS, () => void this.check());
    } catch (error) {
      await this.retry(error);
    }
  }

  /** The channel the wake trigger notifies for this table, named by the database (wake-trigger.ts). */
  private async channelOf(client: pg.Client): Promise<string> {
    const { rows } = await client.query<{ channel: string | null }>(
      `SELECT ${wakeChannelSql('n.nspname::text', 'c.relname::text')} AS channel
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1::text)`,
      [quoteQualified(this.table)],
    );
    if (!rows[0]?.channel) throw new Error(`table ${quoteQualified(this.table)} not found`);
    return rows[0].channel;
  }

  /**
   * The channel is in pg_listening_channels(), and a notification this connection sends itself
   * comes back: through a transaction pooler (PgBouncer) LISTEN "works" and the channel is
   * listed, but notifications never reach the client, which only a round trip shows.
   */
  private async listeningOn(client: pg.Client, channel: string): Promise<boolean> {
    const payload = `${PROBE}${process.pid}:${++this.probeCount}`;
    let timer: NodeJS.Timeout | undefined;
    let heard = () => {};
    const echoed = new Promise<void>((resolve) => (heard = resolve));
    this.probes.set(payload, heard);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DeafError()), CHECK_TIMEOUT_MS);
    });
    try {
      const answer = client.query<{ listening: boolean }>('SELECT $1::text IN (SELECT pg_listening_channels()) AS listening', [channel]);
      if ((await Promise.race([answer, timeout])).rows[0]?.listening !== true) return false;
      const sent = this.sendProbe ? this.sendProbe(channel, payload) : client.query('SELECT pg_notify($1::text, $2::text)', [channel, payload]);
      await Promise.race([Promise.resolve(sent).then(() => echoed), timeout]);
      return true;
    } finally {
      clearTimeout(timer);
      this.probes.delete(payload);
    }
  }

  private async check(): Promise<void> {
    const client = this.client;
    if (!client || this.stopped) return;
    try {
      if (!(await this.listeningOn(client, this.channel!))) throw new DeafError();
      this.schedule(CHECK_EVERY_MS, () => void this.check());
    } catch (error) {
      await this.retry(error);
    }
  }

  private lost(error: unknown): void {
    if (this.stopped || this.client === undefined) return;
    void this.retry(error ?? new Error('the LISTEN connection was closed'));
  }

  private async retry(error: unknown): Promise<void> {
    clearTimeout(this.timer);
    await this.drop();
    if (this.stopped) return;
    const delay = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)]!;
    this.failures++;
    this.logger.warn(
      { event: 'watch.listen_failed', code: sqlstateOf(error) ?? errorCode(error) ?? null, error: this.describe(error), retryInMs: delay },
      error instanceof DeafError
        ? 'LISTEN is not in effect (a transaction pooler? set --listen-url to a direct connection); edits are seen within --max-sleep until it is'
        : 'the LISTEN connection failed; edits are seen within --max-sleep until it is back',
    );
    this.schedule(delay, () => void this.connect());
  }

  private async drop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners('end');
      client.removeAllListeners('notification');
      await closeClient(client);
    }
  }

  // Every timer of the listener goes through here: once stopped, none is set again. A stop()
  // that came while connect() or check() was awaiting the server must not leave their next
  // check (30 s) behind, holding the process open after the watcher has returned its exit code.
  private schedule(ms: number, fn: () => void): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(fn, ms);
  }
}

class DeafError extends Error {
  constructor() {
    super(
      'the LISTEN connection does not hear its own notification (not listed in pg_listening_channels(), or never delivered): ' +
        '--listen-url / SCHEDULER_LISTEN_URL must reach PostgreSQL directly, not through a transaction pooler',
    );
  }
}
