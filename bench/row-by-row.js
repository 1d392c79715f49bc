// The old job's way, as one process end to end (the baseline for the spawned CLI): start,
// connect, one SELECT per action, then one UPDATE per row in one transaction
// (row-by-row-job.js), and one JSON log line per change. BENCH_TABLE names the table; the zone is Europe/Berlin.
import pg from 'pg';
import { rowByRowJob } from './row-by-row-job.js';

const table = process.env.BENCH_TABLE;
const zone = 'Europe/Berlin';
const client = new pg.Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 10000 });
const line = (fields) => process.stdout.write(`${JSON.stringify({ level: 'info', time: new Date().toISOString(), ...fields })}\n`);
await client.connect();
const { activated, deactivated } = await rowByRowJob(client, table, zone);
// The old job logged after its loop too; its lines carried less than ours (no zone, no due time).
for (const id of activated) line({ event: 'package.activated', packageId: String(id) });
for (const id of deactivated) line({ event: 'package.deactivated', packageId: String(id) });
line({ event: 'tick.completed', activated: activated.length, deactivated: deactivated.length });
await client.end();
