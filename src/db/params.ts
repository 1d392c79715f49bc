// The parameter contract of every statement: a builder adds each value once and gets back the
// `$n::type` reference to place in SQL. Fragments receive references, never numbers, so no
// fragment depends on the position of a parameter another module defined.

/** A statement ready for `client.query(statement.text, statement.values)`. */
export interface Statement {
  text: string;
  values: unknown[];
}

export class Params {
  readonly values: unknown[] = [];

  /** Adds a value and returns its typed reference, e.g. `$2::text`. */
  add(value: unknown, type: string): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }

  statement(text: string): Statement {
    return { text, values: this.values };
  }
}
