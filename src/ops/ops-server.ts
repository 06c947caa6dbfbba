/**
 * The operations port of a process, apart from the service port so it is never exposed to
 * buyers: `/metrics` (Prometheus), `/healthz` (alive: the event loop answers) and `/readyz`
 * (every dependency reachable, 503 otherwise, with the failing checks). The gate's cluster
 * primary serves the same pages for all its processes (src/ops/cluster.ts).
 */
import { fastify, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Readiness, ReadinessReport } from './readiness.js';

/** A listening operations server. */
export interface OpsServer {
  /** Base URL, e.g. http://127.0.0.1:9464 */
  readonly url: string;
  /** Closes the port (and, for a process's own server, stops its readiness probes). */
  close(): Promise<void>;
}

/** What the operations port serves. */
export interface OpsPages {
  /** Content type of the Prometheus page. */
  readonly contentType: string;
  /** The Prometheus page. */
  metrics(): Promise<string>;
  /** Readiness now. */
  readiness(): ReadinessReport | Promise<ReadinessReport>;
}

/** Builds the operations routes (not listening). */
function buildOpsServer(pages: OpsPages): FastifyInstance {
  // No request logging: scrapers and probes call every few seconds.
  const app = fastify({ logger: false });
  app.get('/metrics', async (_req, reply) => {
    const body = await pages.metrics();
    return reply.type(pages.contentType).send(body);
  });
  app.get('/healthz', () => ({ status: 'alive' }));
  app.get('/readyz', async (_req, reply) => {
    const report = await pages.readiness();
    return reply.code(report.ready ? 200 : 503).send(report);
  });
  return app;
}

/** Serves `pages` on `host:port`. */
export async function serveOpsPages(
  pages: OpsPages,
  host: string,
  port: number,
): Promise<OpsServer> {
  const app = buildOpsServer(pages);
  const url = await app.listen({ host, port });
  return { url, close: () => app.close() };
}

/** Starts a process's operations server on `host:port`: its registry and its readiness. */
export async function startOpsServer(
  registry: Registry,
  readiness: Readiness,
  host: string,
  port: number,
): Promise<OpsServer> {
  const server = await serveOpsPages(
    {
      contentType: registry.contentType,
      metrics: () => registry.metrics(),
      readiness: () => readiness.report(),
    },
    host,
    port,
  );
  return {
    url: server.url,
    close: () => {
      readiness.close();
      return server.close();
    },
  };
}
