// The documentation cannot rot: every relative link and #anchor resolves (remark-validate-links,
// offline), and docs/configuration.md lists exactly the flags the CLI's --help shows.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runCli } from './support/cli.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const REMARK = fileURLToPath(new URL('../node_modules/remark-cli/cli.js', import.meta.url));
const COMMANDS = ['run', 'migrate', 'check', 'status', 'history'];

/** `--flag` names in a text (commander prints `--no-history`, `--json`, …). */
function flagsIn(text: string): Set<string> {
  return new Set([...text.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]));
}

describe('documentation', () => {
  it('every relative link and anchor in README.md and docs/ resolves', async () => {
    // --frail turns remark-validate-links' warnings into a failing exit code.
    const result = await promisify(execFile)(process.execPath, [REMARK, '--no-stdout', '--frail', '--quiet', 'README.md', 'docs/'], { cwd: ROOT }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('docs/configuration.md names every flag --help shows, and no flag the CLI does not have', async () => {
    const helps = await Promise.all([[], ...COMMANDS.map((c) => [c])].map((args) => runCli([...args, '--help'])));
    for (const help of helps) expect(help.code).toBe(0);
    const cli = flagsIn(helps.map((h) => h.stdout).join('\n'));
    expect(cli.size).toBeGreaterThan(20);
    const page = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
    const documented = flagsIn(page);
    expect([...cli].filter((f) => !documented.has(f))).toEqual([]);
    // The table's first column is what the page claims exists.
    const tableFlags = flagsIn(page.split('\n').filter((l) => l.startsWith('| `--')).map((l) => l.split('|')[1]).join('\n'));
    expect(tableFlags.size).toBeGreaterThan(20);
    expect([...tableFlags].filter((f) => !cli.has(f))).toEqual([]);
  });
});
