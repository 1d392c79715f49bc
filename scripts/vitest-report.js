// What a vitest JSON report says, counted one way for .ci/run and scripts/test-matrix.js.
//   node scripts/vitest-report.js <report.json>   prints "<passed> <failed>" (of a vitest report,
//                                                  or of test-matrix.js's MATRIX_TOTALS file)
// A file whose beforeAll failed has no failed test, only skipped ones: it counts as one failure.
// A test or hook that timed out reads "Error: STACK_TRACE_ERROR" (vitest gives the error the
// stack of where the test or hook was declared); it is said as a timeout.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** @param {unknown} message */
const firstLine = (message) => String(message ?? '').split('\n')[0]?.replace('Error: STACK_TRACE_ERROR', 'a test or hook timed out');

/**
 * @param {string} path the report
 * @param {string} [root] cut from the files' names
 * @returns {{ passed: number, failed: number, failures: string[], retried: string[] }} failures and
 *   retried (tests that passed only when run again) as "file > test: first line of the first error"
 */
export function readReport(path, root = '') {
  const r = JSON.parse(readFileSync(path, 'utf8'));
  /** @type {string[]} */ const failures = [];
  /** @type {string[]} */ const retried = [];
  for (const file of r.testResults) {
    const name = file.name.replace(root, '');
    const failed = file.assertionResults.filter((/** @type {any} */ t) => t.status === 'failed');
    for (const t of failed) failures.push(`${name} > ${t.fullName}: ${firstLine(t.failureMessages?.[0])}`);
    if (failed.length === 0 && file.status === 'failed') failures.push(`${name}: ${firstLine(file.message)}`);
    for (const t of file.assertionResults) {
      if (t.status === 'passed' && t.failureMessages?.length > 0) retried.push(`${name} > ${t.fullName}: ${firstLine(t.failureMessages[0])}`);
    }
  }
  return { passed: r.numPassedTests, failed: Math.max(r.numFailedTests, failures.length), failures, retried };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const path = process.argv[2] ?? '';
  const totals = JSON.parse(readFileSync(path, 'utf8'));
  const { passed, failed } = 'testResults' in totals ? readReport(path) : totals;
  console.log(passed, failed);
}
