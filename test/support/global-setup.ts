// One PostgreSQL server for the whole run; each test file creates its own database on it.
import type { TestProject } from 'vitest/node';
import { startPostgres } from '../../scripts/postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const server = await startPostgres();
  project.provide('adminUrl', server.adminUrl);
  return async () => {
    await server.stop();
  };
}
