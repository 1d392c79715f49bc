// BENCH_ONLY=watch: how late packages go live with `run --watch` vs `--every 1` vs `--every 60`,
// side by side in one run, each on its own database (same server, same moment), plus the idle
// cost of a watcher. Lateness = the change's updated_at (now() of its tick) minus its due instant,
// both by the database clock. WATCH_WINDOW_S (default 90) is the window the 200 packages fall due
// in (issue 22 asks 5 minutes; shortened to fit a session); --every 60 is estimated over the same
// short window (its lateness is uniform over 0-60 s wherever the window lies). WATCH_IDLE_S
// (default 180) is the idle soak.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pg from 'pg';

const WINDOW_S = Number(process.env.WATCH_WINDOW_S ?? 90);
const IDLE_S = Number(process.env.WATCH_IDLE_S ?? 180);
const PACKAGES = 200;

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function database(admin, adminUrl, name) {
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const client = new pg.Client(url.toString());
  await client.connect();
  await client.query(`
    CREATE TABLE special_packages (id serial PRIMARY KEY, name text, is_active boolean DEFAULT false, scheduled boolean DEFAULT false,
      schedule_date date, schedule_time time, auto_activate boolean DEFAULT false, auto_deactivate boolean DEFAULT false,
      valid_until timestamptz, updated_at timestamptz, tz text)`);
  return { url: url.toString(), client };
}

/** 200 packages due at random whole seconds over the window: half activations, half instant expiries, two zones. */
async function seed(client, startsInS) {
  await client.query(
    `INSERT INTO special_packages (scheduled, auto_activate, schedule_date, schedule_time, tz)
     SELECT true, true, l::date, l::time, z FROM (
       SELECT z, (date_trunc('second', now()) + make_interval(secs => $1 + floor(random() * $2))) AT TIME ZONE z AS l
         FROM (SELECT CASE WHEN i % 2 = 0 THEN 'Europe/Berlin' ELSE 'America/New_York' END AS z FROM generate_series(1, $3) AS i) AS zs) AS x`,
    [startsInS, WINDOW_S, PACKAGES / 2],
  );
  await client.query(
    `INSERT INTO special_packages (is_active, auto_deactivate, valid_until, tz)
     SELECT true, true, date_trunc('second', now()) + make_interval(secs => $1 + floor(random() * $2)) - interval '1 microsecond',
            CASE WHEN i % 2 = 0 THEN 'Europe/Berlin' ELSE 'America/New_York' END
       FROM generate_series(1, $3) AS i`,
    [startsInS, WINDOW_S, PACKAGES / 2],
  );
}

async function latenessOf(client) {
  const { rows } = await client.query(`
    SELECT (extract(epoch FROM updated_at - CASE WHEN valid_until IS NOT NULL THEN valid_until + interval '1 microsecond'
                                                 ELSE (schedule_date + schedule_time) AT TIME ZONE tz END) * 1000)::float8 AS ms
      FROM special_packages WHERE updated_at IS NOT NULL`);
  return rows.map((r) => r.ms);
}

const xacts = async (client) => Number((await client.query('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()')).rows[0].n);

function start(bin, url, args) {
  const child = spawn(process.execPath, [bin, 'run', ...args, '--timezone', 'UTC', '--timezone-column', 'tz', '--expiry', 'instant', '--no-history'], {
    env: { PATH: process.env.PATH, DATABASE_URL: url },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  return { child, stop: () => new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM'); }) };
}

function cpuAndRss(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]); // utime + stime, in clock ticks (100 Hz)
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  return { cpuS: ticks / 100, rssMb: rssKb / 1024 };
}

export async function watchBench(admin, adminUrl, bin, results, log) {
  const modes = [
    { name: '`run --watch` (wake trigger installed)', db: 'ps_bench_watch', args: ['--watch'] },
    { name: '`run --every 1`', db: 'ps_bench_every1', args: ['--every', '1'] },
    { name: '`run --every 60`', db: 'ps_bench_every60', args: ['--every', '60'] },
  ];
  for (const m of modes) {
    Object.assign(m, await database(admin, adminUrl, m.db));
    if (m.args[0] === '--watch') {
      await new Promise((resolve, reject) => {
        const c = spawn(process.execPath, [bin, 'migrate', '--wake-trigger', '--no-history'], { env: { PATH: process.env.PATH, DATABASE_URL: m.url }, stdio: 'ignore' });
        c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`migrate exited ${code}`))));
      });
    }
  }
  // An idle watcher (nothing due for hours) soaks alongside.
  const idle = await database(admin, adminUrl, 'ps_bench_idle');
  await idle.client.query(`INSERT INTO special_packages (scheduled, auto_activate, schedule_date, schedule_time) VALUES (true, true, current_date + 30, '09:00')`);
  const idler = start(bin, idle.url, ['--watch']);
  for (const m of modes) await seed(m.client, 10);
  for (const m of modes) {
    m.xactsBefore = await xacts(m.client);
    m.proc = start(bin, m.url, m.args);
  }
  const started = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const idleStart = cpuAndRss(idler.child.pid);
  log(`watch: ${PACKAGES} packages per mode due over ${WINDOW_S} s; idle soak ${IDLE_S} s`);
  await new Promise((resolve) => setTimeout(resolve, (10 + WINDOW_S + 62) * 1000 - (Date.now() - started)));
  const elapsedH = (Date.now() - started) / 3_600_000;
  const rows = [];
  for (const m of modes) {
    const n = (await xacts(m.client)) - m.xactsBefore;
    await m.proc.stop();
    const late = await latenessOf(m.client);
    const min = Math.min(...late);
    rows.push([m.name, `${late.length}/${PACKAGES}`, `${pct(late, 50).toFixed(1)} ms`, `${pct(late, 99).toFixed(1)} ms`, `${min.toFixed(1)} ms`, `${Math.round(n / elapsedH).toLocaleString('en')}`]);
    m.client.end();
  }
  results.sections.push({
    title: `Lateness: ${PACKAGES} packages due at random seconds over ${WINDOW_S} s (half activations, half --expiry instant, two zones), modes side by side`,
    header: ['mode', 'changed', 'p50', 'p99', 'min (never < 0)', 'transactions per hour'],
    rows,
  });
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, (IDLE_S + 5) * 1000 - (Date.now() - started))));
  const idleEnd = cpuAndRss(idler.child.pid);
  const idleTicks = await xacts(idle.client);
  await idler.stop();
  idle.client.end();
  const soakS = (Date.now() - started) / 1000 - 5;
  results.sections.push({
    title: `Idle watcher (nothing due for 30 days, --max-sleep 60) over ${Math.round(soakS)} s`,
    header: ['CPU seconds', 'CPU per 10 minutes', 'RSS start', 'RSS end'],
    rows: [[idleEnd.cpuS - idleStart.cpuS, ((idleEnd.cpuS - idleStart.cpuS) * 600) / soakS, idleStart.rssMb, idleEnd.rssMb].map((x, i) => (i < 2 ? `${x.toFixed(2)} s` : `${x.toFixed(1)} MB`))],
  });
  log(`idle: ${idleTicks} transactions in the idle database`);
  for (const m of [...modes, idle]) await admin.query(`DROP DATABASE IF EXISTS ${m.db ?? 'ps_bench_idle'} WITH (FORCE)`).catch(() => {});
}
