// Spawns a Node process and times it from spawn to exit, as cron sees it, with its peak RSS
// (bench/rss-probe.js). `onStdout` sees stdout as it comes (counting lines, parsing them).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * @param {{ root: string, work: string }} where the checkout (for the probe) and the scratch folder
 * @param {string[]} args
 * @param {Record<string, string | undefined>} env
 * @param {(chunk: Buffer) => void} [onStdout]
 * @returns {Promise<{ ms: number, rss: number }>}
 */
export function timedSpawn({ root, work }, args, env, onStdout) {
  return new Promise((resolve, reject) => {
    const rssFile = join(work, `rss-${randomBytes(4).toString('hex')}`);
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', join(root, 'bench/rss-probe.js'), ...args], {
      env: { PATH: process.env.PATH, HOME: work, ...env, RSS_PROBE_FILE: rssFile },
      cwd: work,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    if (onStdout) child.stdout.on('data', onStdout);
    else child.stdout.resume();
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const elapsed = performance.now() - started;
      if (code !== 0) return reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`));
      let rss = NaN;
      try {
        rss = Number(readFileSync(rssFile, 'utf8'));
        rmSync(rssFile);
      } catch {}
      resolve({ ms: elapsed, rss });
    });
  });
}
