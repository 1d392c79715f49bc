// Bundles the CLI and its runtime dependencies into dist/bundle/ (ESM, code-split so that
// migrate/check/status load only when asked for). It halves the files Node must resolve and
// read at every start; bench/RESULTS.md has the numbers.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync('dist/bundle', { recursive: true, force: true });

await build({
  entryPoints: { cli: 'src/cli/index.ts' },
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // pg-native is an optional peer pg loads only when asked; cloudflare:sockets is Workers-only.
  external: ['pg-native', 'cloudflare:sockets'],
  // CommonJS dependencies (pg, pino) call require() for Node built-ins.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  logLevel: 'warning',
  legalComments: 'none',
  // Less to parse at every start; stack traces are never shown to users anyway.
  minify: true,
});
