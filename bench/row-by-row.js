// The old job's way, as one process end to end (the baseline for the spawned CLI): start,
// connect, one SELECT per action, then one UPDATE per row in one transaction, and one JSON log
// line per change written as it goes. BENCH_TABLE names the table; the zone is Europe/Berlin.
import pg from 'pg';

const table = process.env.BENCH_TABLE;
const zone = 'Europe/Berlin';
const client = new pg.Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 10000 });
const line = (fields) => process.stdout.write(`${JSON.stringify({ level: 'info', time: new Date().toISOString(), ...fields })}\n`);
await client.connect();
await client.query('BEGIN');
const { rows: toActivate } = await client.query(
  `SELECT id FROM ${table} WHERE scheduled AND auto_activate AND schedule_date + coalesce(schedule_time, '00:00') <= now() AT TIME ZONE $1`,
  [zone],
);
for (const { id } of toActivate) {
  await client.query(`UPDATE ${table} SET is_active = true, scheduled = false, updated_at = now() WHERE id = $1`, [id]);
}
const { rows: toDeactivate } = await client.query(
  `SELECT id FROM ${table} WHERE is_active AND auto_deactivate AND valid_until < (now() AT TIME ZONE $1)::date`,
  [zone],
);
for (const { id } of toDeactivate) {
  await client.query(`UPDATE ${table} SET is_active = false, updated_at = now() WHERE id = $1`, [id]);
}
await client.query('COMMIT');
// The old job logged after its loop too; its lines carried less than ours (no zone, no due time).
for (const { id } of toActivate) line({ event: 'package.activated', packageId: String(id) });
for (const { id } of toDeactivate) line({ event: 'package.deactivated', packageId: String(id) });
line({ event: 'tick.completed', activated: toActivate.length, deactivated: toDeactivate.length });
await client.end();
