// A watchdog for the shared test server: every 10 s it looks for sessions (any database) that
// have run one statement, or waited, for over 20 s, and says so on stderr once per session and
// statement. A hook that times out in CI (60 s) then comes with what the server was doing.
import pg from 'pg';

const SQL = `SELECT pid, datname, state, backend_type, wait_event_type, wait_event,
       round(extract(epoch FROM now() - query_start))::int AS seconds, query_start::text AS since,
       pg_blocking_pids(pid) AS blocked_by, left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS query
  FROM pg_stat_activity
 WHERE pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle' AND backend_type = 'client backend'
   AND query_start < now() - interval '20 seconds'`;

export function watchStuckSessions(adminUrl: string): () => Promise<void> {
  const seen = new Set<string>();
  let client: pg.Client | undefined;
  let stopped = false;
  const look = async () => {
    if (stopped) return;
    try {
      if (!client) {
        const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000, application_name: 'test-watchdog' });
        c.on('error', () => {});
        await c.connect();
        client = c;
      }
      const { rows } = await client.query(SQL);
      for (const r of rows) {
        const id = `${r.pid} ${r.since}`;
        if (seen.has(id)) continue;
        seen.add(id);
        process.stderr.write(`[test-watchdog] a session busy ${r.seconds} s: ${JSON.stringify(r)}\n`);
      }
    } catch {
      // The server restarting or the run ending: look again next time, on a new connection.
      await client?.end().catch(() => {});
      client = undefined;
    }
  };
  const timer = setInterval(() => void look(), 10_000);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await client?.end().catch(() => {});
  };
}
