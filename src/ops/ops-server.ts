/**
 * The operations port of a process, apart from the service port so it is never exposed to
 * buyers: `/metrics` (Prometheus), `/healthz` (alive: the event loop answers) and `/readyz`
 * (every dependency reachable, 503 otherwise, with the failing checks).
 */
import { fastify, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Readiness } from './readiness.js';

/** A listening operations server. */
export interface OpsServer {
  /** Base URL, e.g. http://127.0.0.1:9464 */
  readonly url: string;
  /** Stops the readiness probes and closes the port. */
  close(): Promise<void>;
}

/** Builds the operations routes (not listening). */
function buildOpsServer(registry: Registry, readiness: Readiness): FastifyInstance {
  // No request logging: scrapers and probes call every few seconds.
  const app = fastify({ logger: false });
  app.get('/metrics', async (_req, reply) => {
    const body = await registry.metrics();
    return reply.type(registry.contentType).send(body);
  });
  app.get('/healthz', () => ({ status: 'alive' }));
  app.get('/readyz', (_req, reply) => {
    const report = readiness.report();
    return reply.code(report.ready ? 200 : 503).send(report);
  });
  return app;
}

/** Starts the operations server on `host:port`. */
export async function startOpsServer(
  registry: Registry,
  readiness: Readiness,
  host: string,
  port: number,
): Promise<OpsServer> {
  const app = buildOpsServer(registry, readiness);
  const url = await app.listen({ host, port });
  return {
    url,
    close: () => {
      readiness.close();
      return app.close();
    },
  };
}
