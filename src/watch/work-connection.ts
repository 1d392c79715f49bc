// The watcher's one working connection, kept open between wake-ups: a tick due at 09:00:00
// must not first pay for a connection (and TLS) handshake. Any failure closes it; the next use
// opens a new one, so a failover or a killed backend costs one failed tick at most.
import type pg from 'pg';
import { closeClient, openConnection, type ConnectionOptions, type OpenConnection } from '../db/resources.js';

export class WorkConnection {
  private open: OpenConnection | undefined;

  constructor(private readonly options: ConnectionOptions) {}

  async use<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    this.open ??= await openConnection(this.options, { keepAlive: true });
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
