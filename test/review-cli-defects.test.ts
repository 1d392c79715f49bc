// Issue 18, the CLI's items: the metrics temp file (#10), writes to stdout that fail (#11),
// heartbeat URLs (#13), TLS certificate errors and a second signal (#15), a missing password (#16).
// Each runs the built binary against real PostgreSQL (or a real local server speaking its protocol).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, lstatSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pingRequest } from '../src/monitoring/heartbeat.ts';
import { addUpdateTrigger, createPackagesTable, getPackage, insertPackage, useTestDatabase, waitForActiveTick } from './support/database.ts';
import { BIN, runCli } from './support/cli.ts';
import { duePackage } from './support/fixtures.ts';
import { parseMetrics, valueOf } from './support/metrics.ts';
import { scratchDir } from './support/scratch.ts';
import { waitUntil } from './support/wait.ts';

const db = useTestDatabase();
const env = () => ({ DATABASE_URL: db.url, SCHEDULER_TIMEZONE: 'Europe/Berlin' });

async function dropHistory() {
  await db.client.query('DROP TABLE IF EXISTS package_scheduler_state, package_scheduler_events');
}

describe('#10 the metrics temp file', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
    await dropHistory();
  });

  it('never follows a symlink planted at the temp name: the target keeps its content and mode', async () => {
    const shared = scratchDir('ps-shared'); // a folder other users can write to
    const victim = join(scratchDir('ps-victim'), 'secret');
    writeFileSync(victim, 'private\n');
    chmodSync(victim, 0o600);
    const file = join(shared, 'm.prom');
    await insertPackage(db.client, duePackage());
    // The name the old code used, .<file>.<pid>.tmp, planted as soon as the pid is known (the
    // process needs far longer than that to reach its tick).
    const planted: string[] = [];
    const r = await runCli(['run', '--metrics-file', file], {
      env: env(),
      onSpawn: (child) => {
        const link = join(shared, `.m.prom.${child.pid}.tmp`);
        symlinkSync(victim, link);
        planted.push(link);
      },
    });
    expect(r.code).toBe(0);
    expect(r.events('metrics.write_failed')).toEqual([]);
    expect(readFileSync(victim, 'utf8')).toBe('private\n');
    expect(statSync(victim).mode & 0o777).toBe(0o600);
    // The metrics file is a file of its own, complete, 0644; the planted link is left as it was.
    expect(lstatSync(file).isFile()).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(valueOf(parseMetrics(readFileSync(file, 'utf8')), 'package_scheduler_last_run_changes', { action: 'activated' })).toBe(1);
    expect(lstatSync(planted[0]!).isSymbolicLink()).toBe(true);
    expect(readdirSync(shared).sort()).toEqual([planted[0]!.slice(shared.length + 1), 'm.prom'].sort());
  });
});

describe('#13 heartbeat URLs', () => {
  it('puts the suffix on the path, before the query, and moves credentials into a header', () => {
    expect(pingRequest('https://hc.example/ping/abc?create=1', 'start')).toEqual({ url: 'https://hc.example/ping/abc/start?create=1' });
    expect(pingRequest('https://hc.example/ping/abc/?create=1&x=a/', '0')).toEqual({ url: 'https://hc.example/ping/abc/0?create=1&x=a/' });
    expect(pingRequest('https://hc.example/ping/abc#frag', '75')).toEqual({ url: 'https://hc.example/ping/abc/75' });
    expect(pingRequest('https://us%40r:p%3Ass@hc.example/ping/abc', 'start')).toEqual({
      url: 'https://hc.example/ping/abc/start',
      authorization: `Basic ${Buffer.from('us@r:p:ss').toString('base64')}`,
    });
  });

  interface Request {
    method: string;
    url: string;
    headers: IncomingHttpHeaders;
  }
  let server: Server;
  let requests: Request[];
  let base: string;
  beforeEach(async () => {
    await createPackagesTable(db.client);
    await dropHistory();
    requests = [];
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        requests.push({ method: req.method!, url: req.url!, headers: req.headers });
        res.end('OK');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('a URL with a query pings <path>/start?<query> and <path>/0?<query>', async () => {
    await insertPackage(db.client, duePackage());
    const r = await runCli(['run', '--heartbeat-url', `http://${base}/ping/abc?create=1`], { env: env() });
    expect(r.code).toBe(0);
    expect(r.events('heartbeat.failed')).toEqual([]);
    expect(requests.map((q) => `${q.method} ${q.url}`)).toEqual(['GET /ping/abc/start?create=1', 'POST /ping/abc/0?create=1']);
  });

  it('a user:password@ URL sends Basic credentials on every ping and never logs the password', async () => {
    const password = 'hunter2-secret';
    const r = await runCli(['run'], { env: { ...env(), SCHEDULER_HEARTBEAT_URL: `http://pinger:${password}@${base}/ping/abc` } });
    expect(r.code).toBe(0);
    expect(r.events('heartbeat.failed')).toEqual([]);
    expect(requests.map((q) => [q.url, q.headers.authorization])).toEqual([
      ['/ping/abc/start', `Basic ${Buffer.from(`pinger:${password}`).toString('base64')}`],
      ['/ping/abc/0', `Basic ${Buffer.from(`pinger:${password}`).toString('base64')}`],
    ]);
    expect(r.stdout + r.stderr).not.toContain(password);
  });
});

/** The binary with its stdout on `stdout` (a file descriptor, e.g. /dev/full, or a pipe the test reads). */
function spawnBin(args: string[], environment: Record<string, string>, stdout: number | 'pipe') {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TZ: 'UTC', ...environment },
    cwd: '/tmp',
    stdio: ['ignore', stdout, 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    }),
  );
  return { child, done };
}

async function withDevFull<T>(fn: (fd: number) => Promise<T>): Promise<T> {
  const fd = openSync('/dev/full', 'w');
  try {
    return await fn(fd);
  } finally {
    closeSync(fd);
  }
}

describe('#11 stdout that cannot be written', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
    await dropHistory();
  });

  it('run > /dev/full: the tick commits, one line on stderr says so, exit 74, no stack trace', async () => {
    const ids = [await insertPackage(db.client, duePackage()), await insertPackage(db.client, duePackage())];
    await insertPackage(db.client, { is_active: true, auto_deactivate: true, valid_until: '2026-01-01' });
    const r = await withDevFull((fd) => spawnBin(['run'], env(), fd).done);
    expect(r.code).toBe(74);
    expect(r.stderr).toBe(
      'package-scheduler: cannot write the log to stdout: ENOSPC: no space left on device, write; ' +
        'the tick committed 3 changes (activated 2, deactivated 1, activation skipped 0)\n',
    );
    for (const id of ids) expect((await getPackage(db.client, id)).is_active).toBe(true);
  });

  it('run --every > /dev/full: ends after the first tick with the same line and 74', async () => {
    await insertPackage(db.client, duePackage());
    const r = await withDevFull((fd) => spawnBin(['run', '--every', '60'], env(), fd).done);
    expect(r.code).toBe(74);
    expect(r.stderr).toBe(
      'package-scheduler: cannot write the log to stdout: ENOSPC: no space left on device, write; ' +
        'the tick committed 1 changes (activated 1, deactivated 0, activation skipped 0)\n',
    );
  });

  it('a report > /dev/full: one line, exit 74', async () => {
    const r = await withDevFull((fd) => spawnBin(['check'], env(), fd).done);
    expect(r.code).toBe(74);
    expect(r.stderr).toBe('package-scheduler: cannot write the report to stdout: ENOSPC: no space left on device, write\n');
  });

  it('history | head -1: the reader leaving early ends the report quietly with exit 0', async () => {
    expect((await runCli(['migrate'], { env: env() })).code).toBe(0);
    await db.client.query(`
      INSERT INTO special_packages (scheduled, auto_activate, schedule_date, schedule_time)
      SELECT true, true, date '2026-01-01', time '09:00' FROM generate_series(1, 5000)`);
    expect((await runCli(['run'], { env: env() })).code).toBe(0);
    for (const format of [[], ['--json']]) {
      const { child, done } = spawnBin(['history', '--limit', '100000', ...format], env(), 'pipe');
      // As `head -1` does: take the first chunk, then close the pipe while the report is still
      // being written (5,000 events are far more than a pipe holds).
      let first = '';
      child.stdout!.once('data', (d: Buffer) => {
        first = d.toString();
        child.stdout!.destroy();
      });
      const r = await done;
      expect(first.length).toBeGreaterThan(0);
      expect(r).toEqual({ code: 0, signal: null, stderr: '' });
    }
  });
});

describe('#15 a second signal in --every mode', () => {
  it('the first SIGINT waits for the tick; a second one kills the process at once and the tick rolls back', async () => {
    await createPackagesTable(db.client);
    await dropHistory();
    const id = await insertPackage(db.client, duePackage());
    await addUpdateTrigger(db.client, 'slow', 'PERFORM pg_sleep(8);');
    let child!: ChildProcess;
    let stdout = '';
    const run = runCli(['run', '--every', '60'], {
      env: env(),
      onSpawn: (c) => {
        child = c;
        c.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      },
    });
    await waitForActiveTick(db.client); // asleep in the trigger, mid-UPDATE
    const started = Date.now();
    child.kill('SIGINT');
    await waitUntil(() => stdout.includes('"scheduler.stopping"'), { what: 'scheduler.stopping' });
    child.kill('SIGINT');
    const r = await run;
    expect(r.signal).toBe('SIGINT'); // a shell reports 130
    expect(Date.now() - started).toBeLessThan(4000); // not the trigger's 8 s
    expect(r.events('tick.completed')).toEqual([]);
    // The server notices the client is gone and rolls the tick back.
    await waitUntil(async () => (await db.client.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'package-scheduler'`)).rows.length === 0, {
      what: 'the tick backend to end',
      timeoutMs: 15_000,
    });
    expect((await getPackage(db.client, id)).is_active).toBe(false);
  }, 30_000);
});

describe('#15 a TLS certificate the client refuses is configuration (78), named by its code', () => {
  // A server that answers PostgreSQL's SSLRequest with 'S' and then does a TLS handshake with the
  // certificate chain it is given, as a PostgreSQL server with ssl=on does. Certificates are
  // made at run time with openssl: a self-signed one for 127.0.0.1, and a leaf for db.example
  // signed by a CA of its own.
  let dir: string;
  const pem = (name: string) => readFileSync(join(dir, name), 'utf8');
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ps-tls-'));
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl('req', '-x509', ...key, '-keyout', 'self.key', '-out', 'self.crt', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1');
    openssl('req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=package-scheduler test CA');
    openssl('req', ...key, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=db.example');
    writeFileSync(join(dir, 'leaf.ext'), 'subjectAltName=DNS:db.example\n');
    openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.crt', '-days', '2', '-extfile', 'leaf.ext');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function tlsServer(key: string, cert: string): Promise<{ port: number; close: () => Promise<void> }> {
    const server = createNetServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => {
        socket.write('S');
        new TLSSocket(socket, { isServer: true, key, cert }).on('error', () => {});
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as AddressInfo).port,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }

  const cases = [
    { code: 'DEPTH_ZERO_SELF_SIGNED_CERT', key: 'self.key', chain: ['self.crt'], params: 'sslmode=verify-full' },
    // pg's sslmode=require verifies the certificate as verify-full does (pg-connection-string 2.x).
    { code: 'SELF_SIGNED_CERT_IN_CHAIN', key: 'leaf.key', chain: ['leaf.crt', 'ca.crt'], params: 'sslmode=require' },
    { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', key: 'leaf.key', chain: ['leaf.crt'], params: 'sslmode=verify-full' },
    { code: 'ERR_TLS_CERT_ALTNAME_INVALID', key: 'leaf.key', chain: ['leaf.crt'], params: 'sslmode=verify-full&sslrootcert=ca.crt' },
  ];
  for (const c of cases) {
    it(`${c.code} (${c.params}): exit 78, one line naming it`, async () => {
      const server = await tlsServer(pem(c.key), c.chain.map(pem).join(''));
      try {
        const params = c.params.replace('sslrootcert=ca.crt', `sslrootcert=${join(dir, 'ca.crt')}`);
        const r = await runCli(['run', '--timezone', 'UTC'], { env: { DATABASE_URL: `postgres://scheduler:a-long-password@127.0.0.1:${server.port}/db?${params}` } });
        expect(r.code).toBe(78);
        expect(r.stderr.split('\n')).toHaveLength(2); // one line and its newline
        expect(r.stderr).toMatch(new RegExp(`^package-scheduler: the database server's TLS certificate is not accepted \\(${c.code}\\): `));
        expect(r.events('tick.failed')).toEqual([expect.objectContaining({ exitCode: 78 })]);
      } finally {
        await server.close();
      }
    });
  }
});

describe('#16 a server that wants a password, and none is given', () => {
  beforeEach(async () => {
    await createPackagesTable(db.client);
    await dropHistory();
  });
  const withoutPassword = () => {
    const url = new URL(db.url); // the test server's roles need scram-sha-256 (initdb --auth)
    const password = decodeURIComponent(url.password);
    url.password = '';
    return { url: url.toString(), password, user: decodeURIComponent(url.username) };
  };

  it('is exit 78 with one line saying where a password goes', async () => {
    const { url, user } = withoutPassword();
    const id = await insertPackage(db.client, duePackage());
    const r = await runCli(['run', '--timezone', 'UTC'], { env: { DATABASE_URL: url } });
    expect(r.code).toBe(78);
    expect(r.stderr.split('\n')).toHaveLength(2);
    expect(r.stderr).toMatch(
      new RegExp(`^package-scheduler: the server asks for a password for user "${user}" and none is set: put it in the URL, or set PGPASSWORD or PGPASSWORD_FILE`),
    );
    expect((await getPackage(db.client, id)).is_active).toBe(false);
  });

  it('PGPASSWORD_FILE and a .env PGPASSWORD complete a URL without a password, as libpq does', async () => {
    const { url, password } = withoutPassword();
    const dir = scratchDir('ps-password');
    writeFileSync(join(dir, 'password'), `${password}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'settings.env'), `DATABASE_URL=${url}\nPGPASSWORD=${password}\n`, { mode: 0o600 });
    await insertPackage(db.client, duePackage());
    const fromFile = await runCli(['run', '--timezone', 'UTC'], { env: { DATABASE_URL: url, PGPASSWORD_FILE: join(dir, 'password') } });
    expect(fromFile.code).toBe(0);
    expect(fromFile.events('package.activated')).toHaveLength(1);
    const fromEnvFile = await runCli(['run', '--timezone', 'UTC'], { cwd: dir, env: { SCHEDULER_ENV_FILE: join(dir, 'settings.env') } });
    expect(fromEnvFile.code).toBe(0);
    expect(fromEnvFile.events('tick.completed')).toHaveLength(1);
    for (const r of [fromFile, fromEnvFile]) expect(r.stdout + r.stderr).not.toContain(password);
  });
});
