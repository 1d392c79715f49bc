// One PostgreSQL server for the whole run; each test file creates its own database on it.
import type { TestProject } from 'vitest/node';
import { startPostgres } from '../../scripts/postgres-server.js';
import { watchStuckSessions } from './stuck-sessions.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const server = await startPostgres();
  project.provide('adminUrl', server.adminUrl);
  const stopWatching = watchStuckSessions(server.adminUrl);
  return async () => {
    await stopWatching();
    await server.stop();
  };
}
