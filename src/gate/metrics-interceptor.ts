/**
 * Counts every RPC by method and outcome and times PlaceOrder. The outcome is read off the
 * answer itself (the refusal's ErrorInfo reason, the replay header), so handlers stay unaware.
 */
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { PlaceOrderRequestSchema } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { ErrorInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import type { GateMetrics } from '../ops/metrics.js';
import { replayedHeader } from './error-mapping.js';

/** `OrderGateService.PlaceOrder` style names keep the label short and readable. */
const rpcName = (typeName: string, method: string) =>
  `${typeName.slice(typeName.lastIndexOf('.') + 1)}.${method}`;

/** The interceptor recording into `metrics`. */
export function metricsInterceptor(metrics: GateMetrics): Interceptor {
  // Labelled children are looked up once: prom-client hashes the labels on every call otherwise.
  const counters = new Map<string, { inc(): void }>();
  const count = (rpc: string, outcome: string) => {
    const key = `${rpc} ${outcome}`;
    let counter = counters.get(key);
    if (counter === undefined) {
      counter = metrics.requests.labels({ rpc, outcome });
      counters.set(key, counter);
    }
    counter.inc();
  };
  return (next) => async (req) => {
    const rpc = rpcName(req.service.typeName, req.method.name);
    const isPlaceOrder = req.method.input === PlaceOrderRequestSchema;
    const started = performance.now();
    try {
      const res = await next(req);
      const outcome =
        res.header.get(replayedHeader) === 'true' ? 'replayed' : isPlaceOrder ? 'accepted' : 'ok';
      count(rpc, outcome);
      return res;
    } catch (error) {
      const connectError = ConnectError.from(error);
      const reason =
        connectError.findDetails(ErrorInfoSchema)[0]?.reason ?? Code[connectError.code];
      const replayed = connectError.metadata.get(replayedHeader) === 'true';
      count(rpc, replayed ? 'replayed' : reason);
      if (isPlaceOrder && reason === 'RATE_LIMITED' && !req.stream) {
        const message = req.message as { sku?: unknown };
        if (typeof message.sku === 'string') metrics.rateLimited.inc({ sku: message.sku });
      }
      throw error;
    } finally {
      if (isPlaceOrder) metrics.placeOrderSeconds.observe((performance.now() - started) / 1000);
    }
  };
}
