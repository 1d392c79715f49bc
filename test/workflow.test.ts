// The GitHub Actions workflow forks run, checked against GitHub's workflow schema by a real
// validator (it cannot run here), plus the matrix it promises.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { scratchDir } from './support/scratch.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const workflow = join(root, '.github', 'workflows', 'ci.yml');
const validator = join(root, 'node_modules', '.bin', 'action-validator');

function validate(file: string) {
  return spawnSync(validator, [file], { encoding: 'utf8' });
}

describe('GitHub Actions workflow', () => {
  it('passes action-validator', () => {
    const r = validate(workflow);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('action-validator rejects a workflow with a misspelt key (the check can fail)', () => {
    const dir = scratchDir('ps-workflow');
    const broken = join(dir, 'ci.yml');
    writeFileSync(broken, readFileSync(workflow, 'utf8').replace('runs-on:', 'runs_on:'));
    expect(validate(broken).status).not.toBe(0);
  });

  it('tests Node 20, 22 and 24 against PostgreSQL 14, 16 and 18, and the testcontainers path', () => {
    const text = readFileSync(workflow, 'utf8');
    expect(text).toMatch(/node: \[20, 22, 24\]/);
    expect(text).toMatch(/postgres: \[14, 16, 18\]/);
    expect(text).toMatch(/image: postgres:\$\{\{ matrix\.postgres \}\}/);
    expect(text).toMatch(/TEST_POSTGRES: container/);
  });
});
