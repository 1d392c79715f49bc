// Where run history lives: the two tables' names, in a schema of their own choosing.
import { quoteQualified } from '../table/identifiers.js';

export const STATE_TABLE = 'package_scheduler_state';
export const EVENTS_TABLE = 'package_scheduler_events';

export interface HistoryTables {
  schema: string;
  /** Quoted, schema-qualified `package_scheduler_state`. */
  state: string;
  /** Quoted, schema-qualified `package_scheduler_events`. */
  events: string;
}

export function historyTables(schema: string): HistoryTables {
  return {
    schema,
    state: quoteQualified({ schema, name: STATE_TABLE }),
    events: quoteQualified({ schema, name: EVENTS_TABLE }),
  };
}
