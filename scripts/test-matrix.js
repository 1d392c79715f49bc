// npm run test:matrix: the whole suite against each PostgreSQL major through testcontainers
// (the container path, forced), and optionally under other Node.js majors. One line per run.
//
//   MATRIX_PG="14 15 16 17 18"   majors, as postgres:<major>-alpine images (default: all five)
//   MATRIX_NODE="20 22 24"       Node.js majors (default: the running one); others are installed
//                                from npm's `node` package into .matrix-node/ on first use
//   MATRIX="20:14 22:16 24:18"   explicit node:postgres pairs instead of every combination
//   MATRIX_IMAGE="postgres:{major}"  another image name pattern
//   MATRIX_TOTALS=<file>          also write {"passed":N,"failed":N} there (for .ci/run)
//   MATRIX_RETRY=1                 times a failed test is run again (default 1; 0: never). Every
//                                  test that passed only on a retry is printed, with its first error
// Needs a container engine (DOCKER_HOST); exits 1 when any run failed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readReport } from './vitest-report.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const pgMajors = (process.env.MATRIX_PG ?? '14 15 16 17 18').split(/[\s,]+/).filter(Boolean);
const currentNodeMajor = String(parseInt(process.versions.node, 10));
const nodeMajors = (process.env.MATRIX_NODE ?? currentNodeMajor).split(/[\s,]+/).filter(Boolean);
const imagePattern = process.env.MATRIX_IMAGE ?? 'postgres:{major}-alpine';
// The matrix runs go through a container network and start and stop containers of their own
// (test/faults.test.ts); a test they fail once is run again, and said so below. The embedded
// run in .ci/run never retries.
const retry = Number(process.env.MATRIX_RETRY ?? 1);
if (!Number.isSafeInteger(retry) || retry < 0) throw new Error(`MATRIX_RETRY=${process.env.MATRIX_RETRY} is not a whole number ≥ 0`);

/**
 * A node binary of the given major: this one, or npm's `node` package installed once.
 * @param {string} major
 */
function nodeBinary(major) {
  if (currentNodeMajor === major) return process.execPath;
  const dir = join(root, '.matrix-node', major);
  const bin = join(dir, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    const r = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', dir, `node@${major}`], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`could not install node@${major}`);
  }
  return bin;
}

/** @type {[string, string][]} node and PostgreSQL majors */
const pairs = process.env.MATRIX
  ? process.env.MATRIX.split(/[\s,]+/).filter(Boolean).map((pair) => /** @type {[string, string]} */ (pair.split(':')))
  : nodeMajors.flatMap((n) => pgMajors.map((p) => /** @type {[string, string]} */ ([n, p])));

const results = [];
const scratch = mkdtempSync(join(tmpdir(), 'package-scheduler-matrix-'));
try {
  for (const [nodeMajor, pgMajor] of pairs) {
    const node = nodeBinary(nodeMajor);
    const nodeVersion = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
    const image = imagePattern.replace('{major}', pgMajor);
    const report = join(scratch, `${nodeMajor}-${pgMajor}.json`);
    const started = Date.now();
    const run = spawnSync(
      node,
      [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', `--retry=${retry}`, '--reporter=dot', '--reporter=json', `--outputFile.json=${report}`],
      // The 50-tick metrics-file test runs in full once (npm test); 5 ticks per matrix run.
      { cwd: root, env: { METRICS_TICKS: '5', ...process.env, TEST_POSTGRES: 'container', TEST_POSTGRES_IMAGE: image }, encoding: 'utf8' },
    );
    const seconds = Math.round((Date.now() - started) / 1000);
    let counts = { passed: 0, failed: 0 };
    /** @type {string[]} */ let failures = [];
    /** @type {string[]} */ let retried = [];
    try {
      ({ failures, retried, ...counts } = readReport(report, root));
    } catch {
      counts.failed = 1; // no report: the run itself failed
    }
    const ok = run.status === 0 && counts.failed === 0;
    const used = /\[test-postgres\] using (.*)/.exec(run.stderr)?.[1] ?? 'no server line';
    results.push({ ok, ...counts });
    console.log(`${ok ? 'PASS' : 'FAIL'}  node ${nodeVersion}  ${image}  ${counts.passed} passed, ${counts.failed} failed  ${seconds}s  (${used})`);
    for (const f of retried) console.log(`  passed on a retry: ${f.slice(0, 400)}`);
    // The dot reporter names no failed test; the JSON report does (and a file that failed to
    // load shows up in vitest's own output on stderr).
    for (const f of ok ? [] : failures.slice(0, 20)) console.log(`  failed: ${f.slice(0, 400)}`);
    // What the server was busy with meanwhile (test/support/stuck-sessions.ts).
    if (!ok || retried.length > 0) for (const l of run.stderr.split('\n').filter((x) => x.startsWith('[test-watchdog]')).slice(0, 20)) console.log(`  ${l.slice(0, 600)}`);
    if (!ok && failures.length === 0) process.stdout.write(`${`${run.stdout}\n${run.stderr}`.split('\n').filter((l) => /FAIL|×|Error/.test(l)).slice(0, 20).join('\n')}\n`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
const totals = { passed: results.reduce((n, r) => n + r.passed, 0), failed: results.reduce((n, r) => n + r.failed, 0) };
if (process.env.MATRIX_TOTALS) writeFileSync(process.env.MATRIX_TOTALS, JSON.stringify(totals));
process.exitCode = results.length > 0 && results.every((r) => r.ok) ? 0 : 1;
