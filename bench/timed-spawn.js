// Spawns a process and times it from spawn to exit, as cron sees it; a Node process also with
// its peak RSS (bench/rss-probe.js). `onStdout` sees stdout as it comes (counting lines,
// parsing them); without it stdout is drained, as cron's pipe would be.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * @param {string} command
 * @param {string[]} args
 * @param {{ env: Record<string, string | undefined>, cwd?: string, onStdout?: (chunk: Buffer) => void }} options
 * @returns {Promise<{ ms: number }>}
 */
export function timedCommand(command, args, { env, cwd, onStdout }) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    if (onStdout) child.stdout.on('data', onStdout);
    else child.stdout.resume();
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (error) => reject(new Error(`${command}: ${error.message}`)));
    child.on('close', (code) => {
      const elapsed = performance.now() - started;
      if (code !== 0) return reject(new Error(`${[command, ...args].join(' ')} exited ${code}: ${stderr}`));
      resolve({ ms: elapsed });
    });
  });
}

/**
 * A Node script, with its peak RSS.
 * @param {{ root: string, work: string }} where the checkout (for the probe) and the scratch folder
 * @param {string[]} args
 * @param {Record<string, string | undefined>} env
 * @param {(chunk: Buffer) => void} [onStdout]
 * @returns {Promise<{ ms: number, rss: number }>}
 */
export async function timedSpawn({ root, work }, args, env, onStdout) {
  const rssFile = join(work, `rss-${randomBytes(4).toString('hex')}`);
  const { ms } = await timedCommand(process.execPath, ['--import', join(root, 'bench/rss-probe.js'), ...args], {
    env: { PATH: process.env.PATH, HOME: work, ...env, RSS_PROBE_FILE: rssFile },
    cwd: work,
    onStdout,
  });
  let rss = NaN;
  try {
    rss = Number(readFileSync(rssFile, 'utf8'));
    rmSync(rssFile);
  } catch {}
  return { ms, rss };
}
