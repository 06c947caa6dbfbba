/**
 * gRPC health checking (`grpc.health.v1`), answered from the process's readiness: SERVING
 * while Redis and Kafka are reachable, NOT_SERVING before that and while draining. The empty
 * service name is the whole server; every served service reports the same status.
 */
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import {
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as Status,
  HealthListResponseSchema,
  type Health,
} from '../../gen/grpc/health/v1/health_pb.js';
import type { Readiness } from '../ops/readiness.js';
import { createWake } from './wake.js';

/** A watch re-reads the status at least this often, besides being woken by every change. */
const watchRecheckMs = 5000;

/** Creates the Health implementation for `serviceNames` (fully qualified). */
export function createHealthService(
  readiness: Readiness,
  serviceNames: readonly string[],
): ServiceImpl<typeof Health> {
  const known = new Set(['', ...serviceNames]);
  const status = () => (readiness.report().ready ? Status.SERVING : Status.NOT_SERVING);
  const response = (s: Status) => create(HealthCheckResponseSchema, { status: s });

  return {
    check(req) {
      if (!known.has(req.service)) {
        throw new ConnectError(`unknown service ${req.service}`, Code.NotFound);
      }
      return response(status());
    },

    // Sends the current status, then every change, until the client goes away.
    async *watch(req, context) {
      if (!known.has(req.service)) {
        yield response(Status.SERVICE_UNKNOWN);
        return;
      }
      const wake = createWake();
      const unsubscribe = readiness.onChange(() => {
        wake.wake();
      });
      try {
        let sent: Status | undefined;
        while (!context.signal.aborted) {
          const now = status();
          if (now !== sent) {
            yield response(now);
            sent = now;
          }
          await wake.wait(watchRecheckMs, context.signal);
        }
      } finally {
        unsubscribe();
      }
    },

    list() {
      const s = response(status());
      return create(HealthListResponseSchema, {
        statuses: Object.fromEntries([...known].map((name) => [name, s])),
      });
    },
  };
}
