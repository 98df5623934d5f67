/**
 * One throw-away PostgreSQL cluster for the whole run (initdb + pg_ctl, temp dir, free port,
 * private socket). Each test creates its own databases on it; tests that stop a server start a
 * cluster of their own instead.
 */
import type { TestProject } from 'vitest/node';
import { startCluster } from '../lib/engines/postgres/cluster.js';

export interface ClusterInfo {
  host: string;
  port: number;
  password: string;
  binDir: string;
  socketDir: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    cluster: ClusterInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = await startCluster();
  project.provide('cluster', {
    host: cluster.host,
    port: cluster.port,
    password: cluster.password,
    binDir: cluster.binDir,
    socketDir: cluster.socketDir,
  });
  return () => cluster.destroy();
}
