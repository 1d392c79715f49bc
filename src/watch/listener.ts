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

  constructor(
    private readonly options: ConnectionOptions,
    private readonly table: QualifiedName,
    private readonly logger: Logger,
    private readonly events: ListenerEvents,
    /** Error text for the log, passwords scrubbed. */
    private readonly describe: (error: unknown) => string = describeError,
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
      this.client = client;
      client.on('error', (error) => this.lost(error));
      client.on('end', () => this.lost(undefined));
      const channel = await this.channelOf(client);
      await client.query(`LISTEN ${quoteIdent(channel)}`);
      if (!(await this.listeningOn(client, channel))) throw new DeafError();
      client.on('notification', (n) => {
        if (n.channel === channel) this.events.notified();
      });
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

  private async listeningOn(client: pg.Client, channel: string): Promise<boolean> {
    const answer = client.query<{ listening: boolean }>('SELECT $1::text IN (SELECT pg_listening_channels()) AS listening', [channel]);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the LISTEN connection did not answer')), CHECK_TIMEOUT_MS);
    });
    try {
      return (await Promise.race([answer, timeout])).rows[0]?.listening === true;
    } finally {
      clearTimeout(timer);
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

  private schedule(ms: number, fn: () => void): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(fn, ms);
  }
}

class DeafError extends Error {
  constructor() {
    super('the wake channel is not in pg_listening_channels()');
  }
}
