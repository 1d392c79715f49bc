#!/usr/bin/env node
// Node 22.1+ caches compiled bytecode between runs; a cron job started every minute gains
// from it. Node 20 has no such API, hence the guard.
import module from 'node:module';
module.enableCompileCache?.();
const { cli } = await import('../dist/cli.js');
await cli();
