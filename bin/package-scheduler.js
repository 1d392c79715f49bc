#!/usr/bin/env node
// Node 22.1+ caches compiled bytecode between runs; a cron job started every minute gains
// from it. Node 20 has no such API, hence the guard.
import module from 'node:module';
module.enableCompileCache?.();
// The bundled CLI (scripts/bundle.js): one file set to load instead of ~150 modules.
const { cli } = await import('../dist/bundle/cli.js');
await cli();
