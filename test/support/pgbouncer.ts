// A real PgBouncer (Debian's package) in front of the test server, on a free port: transaction
// pooling with a pool of one server connection, the set-up in which one client's session
// settings leak to the next client.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../scripts/embedded-postgres.js';
import { scratchDir } from './scratch.ts';
import { waitUntil } from './wait.ts';

const CANDIDATES = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer', '/usr/local/bin/pgbouncer'];

/** Where pgbouncer is installed, if it is (.ci/run installs it with apt). */
export function pgbouncerBinary(): string | undefined {
  return CANDIDATES.find((path) => existsSync(path));
}

export interface PgBouncer {
  /** The same database and credentials as `serverUrl`, through PgBouncer. */
  url: string;
  stop(): Promise<void>;
}

/** Starts PgBouncer for the test that calls it; stopped when that test finishes, at the latest. */
export async function startPgBouncer(serverUrl: string, options: { poolMode: 'transaction' | 'session'; poolSize: number }): Promise<PgBouncer> {
  const binary = pgbouncerBinary();
  if (!binary) throw new Error('pgbouncer is not installed (apt-get install pgbouncer)');
  const server = new URL(serverUrl);
  const dir = scratchDir('ps-pgbouncer');
  chmodSync(dir, 0o755); // readable by the unprivileged user it runs as under root
  const port = await freePort();
  const user = decodeURIComponent(server.username);
  const password = decodeURIComponent(server.password);
  writeFileSync(join(dir, 'userlist.txt'), `"${user}" "${password.replace(/"/g, '""')}"\n`, { mode: 0o644 });
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    `[databases]
* = host=${server.hostname} port=${server.port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = ${join(dir, 'userlist.txt')}
pool_mode = ${options.poolMode}
default_pool_size = ${options.poolSize}
max_client_conn = 200
ignore_startup_parameters = extra_float_digits
`,
    { mode: 0o644 },
  );
  // PgBouncer refuses to run as root; -u drops to an unprivileged user.
  const asRoot = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const child: ChildProcess = spawn(binary, [...asRoot, join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  let exited = false;
  child.on('exit', () => (exited = true));
  await waitUntil(async () => exited || (await accepts(port)), { what: `pgbouncer on port ${port}`, timeoutMs: 10_000 });
  if (exited) throw new Error(`pgbouncer exited: ${log.trim()}`);
  const url = new URL(serverUrl);
  url.host = `127.0.0.1:${port}`;
  const stop = async () => {
    if (exited) return;
    const done = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    await done;
  };
  return { url: url.toString(), stop };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export const pgbouncerVersion = (): string | undefined => {
  const binary = pgbouncerBinary();
  return binary ? spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] : undefined;
};
