// Picks the PostgreSQL server the tests (and the demo and benchmarks) run against.
// TEST_POSTGRES chooses the kind; unset (or "auto") means the project's order of preference:
//   url        TEST_DATABASE_URL, a superuser URL of a server you run (any host, port, password)
//   container  testcontainers, image TEST_POSTGRES_IMAGE (default postgres:17-alpine)
//   embedded   real PostgreSQL binaries from npm, no engine needed
// A forced kind that cannot start fails the run; "auto" says on stderr why it skipped a step.
// Plain JavaScript so the tests, the demo and the benchmarks share it without a build.
import { existsSync } from 'node:fs';
import { freePort, startEmbeddedServer } from './embedded-postgres.js';

export const DEFAULT_IMAGE = 'postgres:17-alpine';
const KINDS = ['auto', 'url', 'container', 'embedded'];

/**
 * @typedef {object} PostgresServer
 * @property {string} adminUrl connection string of a superuser on the maintenance database
 * @property {'url' | 'container' | 'embedded'} kind
 * @property {string} description what was started, for the run's log
 * @property {() => Promise<void>} stop
 */

/** @param {string} line */
function say(line) {
  process.stderr.write(`[test-postgres] ${line}\n`);
}

/** @param {NodeJS.ProcessEnv} env */
function requestedKind(env) {
  const kind = (env.TEST_POSTGRES || 'auto').trim().toLowerCase();
  if (!KINDS.includes(kind)) throw new Error(`TEST_POSTGRES="${env.TEST_POSTGRES}" is not one of ${KINDS.join(', ')}`);
  return kind;
}

/**
 * @param {NodeJS.ProcessEnv} [env]
 * @param {string} [urlVariable] the variable naming an existing server (TEST_DATABASE_URL)
 * @returns {Promise<PostgresServer>}
 */
export async function startPostgres(env = process.env, urlVariable = 'TEST_DATABASE_URL') {
  const kind = requestedKind(env);
  const given = env[urlVariable];
  if (kind === 'url' || (kind === 'auto' && given)) {
    if (!given) throw new Error(`TEST_POSTGRES=url needs ${urlVariable}`);
    return announce({ adminUrl: given, kind: 'url', description: `${urlVariable} (${redact(given)})`, stop: async () => {} });
  }
  if (kind === 'container') return announce(await startContainer(env));
  if (kind === 'auto') {
    if (!containerEngineMayAnswer(env)) {
      say('no container engine (no DOCKER_HOST, no /var/run/docker.sock); using embedded PostgreSQL');
    } else {
      try {
        return announce(await startContainer(env));
      } catch (error) {
        say(`container engine found but the PostgreSQL container did not start: ${oneLine(error)}; using embedded PostgreSQL`);
      }
    }
  }
  return announce(await embedded());
}

/**
 * A server of its own for a test that stops and restarts it, chosen by the same rules
 * (TEST_DATABASE_URL cannot be stopped, so "url" gives a container or embedded server).
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {Promise<PostgresServer & { pause: () => Promise<void>, resume: () => Promise<void> }>}
 */
export async function startPrivatePostgres(env = process.env) {
  const kind = requestedKind(env);
  const container = kind === 'container' || (kind !== 'embedded' && containerEngineMayAnswer(env));
  if (container) {
    try {
      return await startContainer(env, { fixedPort: true });
    } catch (error) {
      if (kind === 'container') throw error;
      say(`private server: the PostgreSQL container did not start: ${oneLine(error)}; using embedded PostgreSQL`);
    }
  }
  return embedded();
}

// Asking testcontainers to find an engine that is not there costs seconds of probing;
// a missing socket and no DOCKER_HOST settles the question for free.
/** @param {NodeJS.ProcessEnv} env */
export function containerEngineMayAnswer(env) {
  return Boolean(env.DOCKER_HOST) || existsSync('/var/run/docker.sock');
}

async function embedded() {
  const server = await startEmbeddedServer({ log: (line) => say(`embedded: ${line}`) });
  return { ...server, kind: /** @type {const} */ ('embedded'), description: `embedded ${server.version}` };
}

/**
 * @param {NodeJS.ProcessEnv} env
 * @param {{ fixedPort?: boolean }} [options] a fixed host port survives a stop and start
 */
async function startContainer(env, options = {}) {
  const image = env.TEST_POSTGRES_IMAGE || DEFAULT_IMAGE;
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const { getContainerRuntimeClient } = await import('testcontainers');
  let builder = new PostgreSqlContainer(image)
    .withPassword(`pw-${Math.random().toString(36).slice(2)}`)
    .withCommand(['postgres', '-c', 'max_connections=200', '-c', 'fsync=off']);
  const hostPort = options.fixedPort ? await freePort() : undefined;
  if (hostPort !== undefined) builder = builder.withExposedPorts({ container: 5432, host: hostPort });
  let container;
  try {
    container = await builder.start();
  } catch (error) {
    throw new Error(`cannot start ${image} with testcontainers: ${oneLine(error)}`, { cause: error });
  }
  const url = new URL(container.getConnectionUri());
  url.pathname = '/postgres';
  const client = await getContainerRuntimeClient();
  const docker = client.container.getById(container.getId());
  const version = (await container.exec(['postgres', '--version'])).output.trim();
  return {
    adminUrl: url.toString(),
    kind: /** @type {const} */ ('container'),
    description: `container ${image} (${version}) via testcontainers`,
    // Stopped and started by id: the data and the fixed host port stay.
    pause: async () => void (await docker.stop({ t: 10 })),
    resume: async () => {
      await docker.start();
      await waitForServer(url.toString());
    },
    stop: async () => void (await container.stop()),
  };
}

/** @param {string} url */
async function waitForServer(url) {
  const { default: pg } = await import('pg');
  const deadline = Date.now() + 30_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => {});
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not come back: ${oneLine(error)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** @param {PostgresServer} server */
function announce(server) {
  say(`using ${server.description}`);
  return server;
}

/** @param {string} url */
function redact(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'an unparseable URL';
  }
}

/** @param {unknown} error */
function oneLine(error) {
  return (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ').slice(0, 300);
}
