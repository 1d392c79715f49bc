// The source's shape (docs/design.md, "Folder map"): one folder per capability, small files,
// no import cycle. Checked here so a change that breaks it fails the suite, not a later review.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');
const DPDM = join(ROOT, 'node_modules/dpdm/lib/bin/dpdm.js');
/** "No source file over ~250 lines" (issue 19): a little slack, never a second 300-line file. */
const MAX_LINES = 260;
const ROOT_FILES = ['errors.ts', 'index.ts', 'logger.ts'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith('.ts') ? [path] : [];
  });
}

describe('source layout', () => {
  it('has no import cycle, type-only imports included (dpdm)', async () => {
    // --exit-code circular:1 makes dpdm fail when it finds one; its report names the files.
    const run = await promisify(execFile)(process.execPath, [DPDM, '--no-warning', '--no-tree', '--exit-code', 'circular:1', 'src/index.ts', 'src/cli/index.ts'], {
      cwd: ROOT,
    }).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
    );
    expect(run.stdout).toContain('Circular Dependencies');
    expect(run.stdout).not.toMatch(/^\s*1\)/m);
    expect(run.code).toBe(0);
  });

  it('keeps only the public API and the shared modules at the root of src/', () => {
    const files = readdirSync(SRC).filter((name) => statSync(join(SRC, name)).isFile());
    expect(files.sort()).toEqual(ROOT_FILES);
  });

  it(`has no source file over ${MAX_LINES} lines`, () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(40);
    const long = files.map((f) => ({ file: f.slice(ROOT.length), lines: readFileSync(f, 'utf8').split('\n').length })).filter((f) => f.lines > MAX_LINES);
    expect(long).toEqual([]);
  });
});
