// npm run test:matrix: the whole suite against each PostgreSQL major through testcontainers
// (the container path, forced), and optionally under other Node.js majors. One line per run.
//
//   MATRIX_PG="14 15 16 17 18"   majors, as postgres:<major>-alpine images (default: all five)
//   MATRIX_NODE="20 22 24"       Node.js majors (default: the running one); others are installed
//                                from npm's `node` package into .matrix-node/ on first use
//   MATRIX="20:14 22:16 24:18"   explicit node:postgres pairs instead of every combination
//   MATRIX_IMAGE="postgres:{major}"  another image name pattern
//   MATRIX_TOTALS=<file>          also write {"passed":N,"failed":N} there (for .ci/run)
// Needs a container engine (DOCKER_HOST); exits 1 when any run failed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pgMajors = (process.env.MATRIX_PG ?? '14 15 16 17 18').split(/[\s,]+/).filter(Boolean);
const currentNodeMajor = String(parseInt(process.versions.node, 10));
const nodeMajors = (process.env.MATRIX_NODE ?? currentNodeMajor).split(/[\s,]+/).filter(Boolean);
const imagePattern = process.env.MATRIX_IMAGE ?? 'postgres:{major}-alpine';

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
      [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--reporter=dot', '--reporter=json', `--outputFile.json=${report}`],
      // The 50-tick metrics-file test runs in full once (npm test); 5 ticks per matrix run.
      { cwd: root, env: { METRICS_TICKS: '5', ...process.env, TEST_POSTGRES: 'container', TEST_POSTGRES_IMAGE: image }, encoding: 'utf8' },
    );
    const seconds = Math.round((Date.now() - started) / 1000);
    let counts = { passed: 0, failed: 0 };
    try {
      const r = JSON.parse(readFileSync(report, 'utf8'));
      counts = { passed: r.numPassedTests, failed: r.numFailedTests };
    } catch {
      counts.failed = 1; // no report: the run itself failed
    }
    const ok = run.status === 0 && counts.failed === 0;
    const used = /\[test-postgres\] using (.*)/.exec(run.stderr)?.[1] ?? 'no server line';
    results.push({ ok, ...counts });
    console.log(`${ok ? 'PASS' : 'FAIL'}  node ${nodeVersion}  ${image}  ${counts.passed} passed, ${counts.failed} failed  ${seconds}s  (${used})`);
    if (!ok) process.stdout.write(`${run.stdout.split('\n').filter((l) => /FAIL|×|Error/.test(l)).slice(0, 20).join('\n')}\n`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
const totals = { passed: results.reduce((n, r) => n + r.passed, 0), failed: results.reduce((n, r) => n + r.failed, 0) };
if (process.env.MATRIX_TOTALS) writeFileSync(process.env.MATRIX_TOTALS, JSON.stringify(totals));
process.exitCode = results.length > 0 && results.every((r) => r.ok) ? 0 : 1;
