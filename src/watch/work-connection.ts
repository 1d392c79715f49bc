// The watcher's one working connection, kept open between wake-ups: a tick due at 09:00:00
// must not first pay for a connection (and TLS) handshake. Any failure closes it; the next use
// opens a new one, so a failover or a killed backend costs one failed tick at most.
import type pg from 'pg';
import { closeClient, openConnection, type ConnectionOptions, type OpenConnection } from '../db/resources.js';

export class WorkConnection {
  private open: OpenConnection | undefined;

  constructor(private readonly options: ConnectionOptions) {}

  async use<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    if (!this.open) {
      const open = await openConnection(this.options, { keepAlive: true });
      // A connection that dies while the watcher sleeps (a killed backend, idle_session_timeout)
      // is dropped at once, so the due instant's tick opens a new one instead of failing on it.
      const forget = () => {
        if (this.open === open) this.open = undefined;
      };
      open.client.on('error', forget);
      open.client.on('end', forget);
      this.open = open;
    }
    try {
      return await this.open.run(fn);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  async close(): Promise<void> {
    const open = this.open;
    this.open = undefined;
    if (open) await closeClient(open.client);
  }
}
