// Loaded with `node --import` into a spawned CLI: reports the process's peak RSS on exit.
import { writeFileSync } from 'node:fs';

const out = process.env.RSS_PROBE_FILE;
if (out) process.on('exit', () => writeFileSync(out, String(process.resourceUsage().maxRSS * 1024)));
