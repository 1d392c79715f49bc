// The part of pg-cursor this project uses (it ships no types of its own).
declare module 'pg-cursor' {
  import type { CustomTypesConfig, Submittable } from 'pg';

  interface CursorConfig {
    rowMode?: 'array';
    types?: CustomTypesConfig;
  }

  class Cursor<Row = unknown[]> implements Submittable {
    constructor(text: string, values?: unknown[], config?: CursorConfig);
    readonly text: string;
    readonly values: unknown[] | null;
    submit: Submittable['submit'];
    read(rows: number): Promise<Row[]>;
    close(): Promise<void>;
  }

  export default Cursor;
}
