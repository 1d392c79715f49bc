// Row-level security can hide packages from the scheduler's role; hidden rows are never
// selected, so they are never changed, and nothing fails. check and status say so.
import { query, type Queryable } from '../db/resources.js';
import { quoteQualified } from './identifiers.js';
import { Params } from '../db/params.js';

/**
 * A warning when the table has RLS enabled and the connected role is subject to it: not a
 * superuser, not BYPASSRLS, and not the owner (or a member with its privileges) unless FORCEd.
 */
export async function rowSecurityWarning(client: Queryable, table: { schema: string; name: string }): Promise<string | undefined> {
  const params = new Params();
  const { rows } = await query<{ applies: boolean; role: string }>(
    client,
    params.statement(`SELECT c.relrowsecurity AND NOT r.rolsuper AND NOT r.rolbypassrls
                AND (c.relforcerowsecurity OR NOT pg_has_role(c.relowner, 'USAGE')) AS applies,
              current_user AS role
         FROM pg_class c, pg_roles r
        WHERE c.oid = to_regclass(${params.add(quoteQualified(table), 'text')}) AND r.rolname = current_user`),
  );
  const row = rows[0];
  if (!row?.applies) return undefined;
  return `row-level security is enabled on ${table.schema}.${table.name} and applies to role ${row.role}: its policies may hide packages from this role; hidden rows are never changed (grant BYPASSRLS, or add a policy that shows the scheduler every row)`;
}
