/**
 * Counts every RPC by method and outcome and times PlaceOrder. The outcome is read off the
 * answer (the replay header; a refusal's reason, from the domain refusal the error carries), so
 * handlers stay unaware.
 */
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { PlaceOrderRequestSchema } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { Refusal } from '../domain/refusal.js';
import type { GateMetrics } from '../ops/metrics.js';
import { replayedHeader } from './error-mapping.js';

/** `OrderGateService.PlaceOrder` style names keep the label short and readable. */
const rpcName = (typeName: string, method: string) =>
  `${typeName.slice(typeName.lastIndexOf('.') + 1)}.${method}`;

/**
 * What a failed call counts as: `replayed`, the refusal reason (error-mapping.ts keeps the
 * refusal as the error's cause), or the code's name for anything else.
 */
function failureOutcome(error: ConnectError): string {
  const { cause } = error;
  if (cause instanceof Refusal) return cause.replayed ? 'replayed' : cause.reason;
  return Code[error.code];
}

/** The interceptor recording into `metrics`. */
export function metricsInterceptor(metrics: GateMetrics): Interceptor {
  return (next) => async (req) => {
    const rpc = rpcName(req.service.typeName, req.method.name);
    const isPlaceOrder = req.method.input === PlaceOrderRequestSchema;
    const started = performance.now();
    try {
      const res = await next(req);
      const outcome =
        res.header.get(replayedHeader) === 'true' ? 'replayed' : isPlaceOrder ? 'accepted' : 'ok';
      metrics.requestCounter(rpc, outcome).inc();
      return res;
    } catch (error) {
      const outcome = failureOutcome(ConnectError.from(error));
      metrics.requestCounter(rpc, outcome).inc();
      if (isPlaceOrder && outcome === 'RATE_LIMITED' && !req.stream) {
        const message = req.message as { sku?: unknown };
        if (typeof message.sku === 'string') metrics.rateLimited.inc({ sku: message.sku });
      }
      throw error;
    } finally {
      if (isPlaceOrder) metrics.placeOrderSeconds.observe((performance.now() - started) / 1000);
    }
  };
}
