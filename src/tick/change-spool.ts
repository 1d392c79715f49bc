// Where a tick's change records wait between the tick statement and COMMIT: a line is logged
// only for a committed change, so every record must outlive the transaction, and a backlog of
// a million changes must not live in memory. Records are kept in memory up to a fixed budget,
// then appended to a temporary file that is unlinked as soon as it is open (nothing is left
// behind, whatever way the process ends).
import { closeSync, mkdtempSync, openSync, readSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { TemporaryError, errorCode } from '../errors.js';

/** What a spool needs from outside: where its file may go, and how much it may hold in memory. */
export interface SpoolOptions {
  /** A writable folder for the file; undefined keeps everything in memory. */
  directory?: string;
  memoryBytes?: number;
  /** Told once when the file cannot be created, and the records stay in memory instead. */
  onFileUnavailable?: (code: string | undefined) => void;
}

const DEFAULT_MEMORY_BYTES = 256 * 1024;
// Strings and buffers stay well under V8's large-object size (~128 KB): short-lived ones then
// die young, instead of piling up in old space until a full collection (a million records
// read back in 1 MB strings would hold ~100 MB of garbage).
const READ_BYTES = 32 * 1024;
const RECORDS_PER_WRITE = 128;
/** No space left on the device; the user's disk quota used up. */
const FULL = new Set(['ENOSPC', 'EDQUOT']);

export class ChangeSpool {
  private readonly memory: string[] = [];
  private memoryBytes = 0;
  private fd: number | undefined;
  private fileBytes = 0;
  private fileUnavailable = false;

  constructor(private readonly options: SpoolOptions = {}) {}

  /** Appends records, each one line of text without a newline. */
  append(records: string[]): void {
    for (let i = 0; i < records.length; i += RECORDS_PER_WRITE) this.appendText(`${records.slice(i, i + RECORDS_PER_WRITE).join('\n')}\n`);
  }

  private appendText(text: string): void {
    if (this.fd === undefined && this.memoryBytes + text.length > (this.options.memoryBytes ?? DEFAULT_MEMORY_BYTES)) this.openFile();
    if (this.fd === undefined) {
      this.memory.push(text);
      this.memoryBytes += text.length;
      return;
    }
    // A write error propagates: the tick rolls back rather than lose a line. A short write (a
    // full disk, on some filesystems) would lose records silently: it fails the same way.
    let written: number;
    try {
      written = writeSync(this.fd, text);
    } catch (error) {
      throw this.writeError(error);
    }
    this.fileBytes += written;
    if (written !== Buffer.byteLength(text)) throw this.writeError(Object.assign(new Error('short write to the spool file'), { code: 'ENOSPC' }));
  }

  // A full temp folder (or the user's quota there) is the operator's to free, and the next tick
  // works once they have: temporary (75), not a software error. The tick rolls back on it.
  private writeError(error: unknown): unknown {
    if (!FULL.has(errorCode(error) ?? '')) return error;
    return new TemporaryError(`the temp folder ${this.options.directory ?? ''} is full (${errorCode(error)}): a tick this large keeps its changes there until COMMIT; nothing was changed`, { cause: error });
  }

  /** Calls `each` with every record, in the order appended. */
  forEach(each: (record: string) => void): void {
    for (const block of this.blocks()) eachLine(block, each);
  }

  /**
   * forEach, letting the event loop run after every block (32 KB, some hundreds of records):
   * a backlog's lines are written while the next batch's statements make their round trips.
   */
  async forEachYielding(each: (record: string) => void): Promise<void> {
    for (const block of this.blocks()) {
      eachLine(block, each);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  // The records as blocks of whole lines: the memory's, then the file's.
  private *blocks(): Generator<string> {
    yield* this.memory;
    if (this.fd === undefined) return;
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    // A block can end inside a multi-byte character (a name in Cyrillic, an emoji): the decoder
    // keeps its first bytes until the next block completes it, instead of decoding each half to U+FFFD.
    const decoder = new StringDecoder('utf8');
    let carry = '';
    for (let position = 0; position < this.fileBytes; ) {
      const read = readSync(this.fd, buffer, 0, READ_BYTES, position);
      if (read === 0) break;
      position += read;
      const text = carry + decoder.write(buffer.subarray(0, read));
      // Cut at the last newline: a record (never containing a newline) is never split.
      const end = text.lastIndexOf('\n');
      if (end < 0) {
        carry = text;
        continue;
      }
      yield text.slice(0, end + 1);
      carry = text.slice(end + 1);
    }
    carry += decoder.end();
    if (carry.length > 0) yield carry;
  }

  /** Frees the memory and closes the file (already unlinked). */
  close(): void {
    this.memory.length = 0;
    this.memoryBytes = 0;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private openFile(): void {
    const directory = this.options.directory;
    if (directory === undefined || this.fileUnavailable) return;
    let folder: string | undefined;
    try {
      folder = mkdtempSync(join(directory, 'package-scheduler-'));
      const path = join(folder, 'changes');
      this.fd = openSync(path, 'w+', 0o600);
      unlinkSync(path);
    } catch (error) {
      // A read-only root filesystem without a writable /tmp: memory it is, as before spooling.
      this.fileUnavailable = true;
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = undefined;
      this.options.onFileUnavailable?.((error as { code?: string }).code);
    } finally {
      if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
    }
  }
}

function eachLine(text: string, each: (record: string) => void): void {
  let start = 0;
  for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
    each(text.slice(start, end));
    start = end + 1;
  }
  if (start < text.length) each(text.slice(start));
}
