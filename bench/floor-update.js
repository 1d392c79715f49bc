// The 10,000-due floor of bench/catchup.js: start Node, load pg, one connection, the bare UPDATE,
// one JSON line per changed row on stdout, exit. What a minimal hand-written job costs.
import pg from 'pg';

const table = process.env.BENCH_TABLE;
const client = new pg.Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 10000 });
await client.connect();
const { rows } = await client.query(
  `UPDATE ${table} SET is_active = true, scheduled = false, updated_at = now()
    WHERE scheduled AND auto_activate AND schedule_date <= current_date RETURNING id, name`,
);
for (const row of rows) {
  process.stdout.write(`${JSON.stringify({ level: 30, time: Date.now(), event: 'package.activated', packageId: row.id, name: row.name, msg: 'package activated' })}\n`);
}
await client.end();
