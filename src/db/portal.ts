// One page of a named portal per round trip, each ended by Sync (pg-cursor ends its reads with
// Flush instead). Between pages the server is then `idle in transaction`, not `active` waiting
// on the client's next message: a client that stops reading (SIGSTOP, a frozen VM) trips
// idle_in_transaction_session_timeout, which ends its session and frees its locks, where with
// Flush no timeout ever fires. A named portal outlives Sync inside a transaction block, and the
// transaction keeps the connection (PgBouncer transaction pooling too) until COMMIT.
import type pg from 'pg';
import utils from 'pg/lib/utils.js';

/** The wire calls used here (pg's own types for them are looser than what it accepts). */
interface Wire {
  stream: { cork?(): void; uncork?(): void };
  parse(msg: { text: string }, more: boolean): void;
  bind(msg: { portal: string; values: unknown[]; valueMapper: (value: unknown) => unknown }, more: boolean): void;
  describe(msg: { type: 'P'; name: string }, more: boolean): void;
  execute(msg: { portal: string; rows: number }, more: boolean): void;
  close(msg: { type: 'P'; name: string }, more: boolean): void;
  sync(): void;
  sendCopyFail(message: string): void;
}

interface Field {
  dataTypeID: number;
  format?: string;
}

type Parser = (value: string) => unknown;

let nextPortal = 1;

/** A named portal read `rows` at a time; `done` once the statement's last row is read. */
export class Portal {
  readonly name = `ps_${nextPortal++}`;
  private parsers: Parser[] | undefined;
  private opened = false;
  done = false;

  constructor(
    private readonly client: Pick<pg.ClientBase, 'query'>,
    private readonly text: string,
    private readonly values: unknown[],
    private readonly types: pg.CustomTypesConfig,
  ) {}

  /** The next page: the statement runs on the first (a data-modifying one to completion). */
  read(rows: number): Promise<unknown[][]> {
    const first = !this.opened;
    this.opened = true;
    // The first page's query names the statement (text, values), as any pg query does, for
    // whoever watches the client's queries (the bench's recording client); later pages do not.
    return this.exchange(first ? { text: this.text, values: this.values } : {}, (wire) => {
      if (first) {
        wire.parse({ text: this.text }, true);
        wire.bind({ portal: this.name, values: this.values, valueMapper: utils.prepareValue }, true);
        wire.describe({ type: 'P', name: this.name }, true);
      }
      wire.execute({ portal: this.name, rows }, true);
    });
  }

  /** Closes the portal early (COMMIT or ROLLBACK would too): its held rows are freed now. */
  async close(): Promise<void> {
    if (!this.opened || this.done) return;
    this.done = true;
    await this.exchange({}, (wire) => wire.close({ type: 'P', name: this.name }, true));
  }

  /** Sends `messages` then Sync as one query of pg's queue; resolves with the rows at ReadyForQuery. */
  private exchange(statement: { text?: string; values?: unknown[] }, messages: (wire: Wire) => void): Promise<unknown[][]> {
    return new Promise((resolve, reject) => {
      const page: unknown[][] = [];
      let failed = false;
      const submittable = {
        ...statement,
        submit: (connection: unknown) => {
          const wire = connection as Wire;
          wire.stream.cork?.();
          try {
            messages(wire);
            wire.sync();
          } finally {
            wire.stream.uncork?.();
          }
        },
        handleRowDescription: (msg: { fields: Field[] }) => {
          this.parsers = msg.fields.map((f) => this.types.getTypeParser(f.dataTypeID, (f.format ?? 'text') as 'text') as Parser);
        },
        handleDataRow: (msg: { fields: (string | null)[] }) => {
          const parsers = this.parsers!;
          page.push(msg.fields.map((value, i) => (value === null ? null : parsers[i]!(value))));
        },
        handlePortalSuspended: () => {},
        handleCommandComplete: () => {
          this.done = true;
        },
        handleEmptyQuery: () => {
          this.done = true;
        },
        // pg has taken this query off its queue when it calls this; the server skips to our Sync.
        handleError: (error: unknown) => {
          failed = true;
          this.done = true;
          reject(error);
        },
        handleReadyForQuery: () => {
          if (!failed) resolve(page);
        },
        handleCopyInResponse: (connection: unknown) => (connection as Wire).sendCopyFail('COPY is not supported here'),
        handleCopyData: () => {},
      };
      this.client.query(submittable as unknown as pg.Submittable);
    });
  }
}
