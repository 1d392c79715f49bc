// The floor a tick cannot beat: start Node, load pg, connect, send the tick's exact
// statements (recorded by bench/run.js) in one transaction, exit.
import { readFileSync } from 'node:fs';
import pg from 'pg';

const statements = JSON.parse(readFileSync(process.env.FLOOR_STATEMENTS, 'utf8'));
const client = new pg.Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 10000 });
await client.connect();
for (const { text, values } of statements) await client.query(text, values);
await client.end();
