/**
 * The typed client for Node backends: gRPC over HTTP/2 (cleartext h2c for http:// URLs, TLS
 * for https://), one connection shared by every call, the admin token sent when given.
 */
import { createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { AdminService } from '../../gen/fluxgate/v1/admin_pb.js';
import { InventoryService } from '../../gen/fluxgate/v1/inventory_pb.js';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import {
  placeOrder,
  restock,
  type OrderInput,
  type RestockInput,
  type RetryListener,
  type RetryOptions,
  type RetryPolicy,
} from './retry.js';

/** Where and how to connect. */
export interface FluxGateClientOptions {
  /** The gate's base URL, e.g. http://127.0.0.1:8080 */
  readonly baseUrl: string;
  /** Bearer token for AdminService calls. */
  readonly adminToken?: string;
  /** Retry policy of the retrying calls: overrides of `defaultRetryPolicy`, field by field. */
  readonly retry?: Partial<RetryPolicy>;
}

/** One retrying call's own options. */
export interface RetryCallOptions {
  /** The caller's cancellation: aborts the attempt in flight or the wait. */
  readonly signal?: AbortSignal;
  /** Told before each retry. */
  readonly onRetry?: RetryListener;
  /** This call's overall deadline, ms, instead of the policy's (e.g. what the caller has left). */
  readonly deadlineMs?: number;
}

/** Typed access to the gate's three services, with a retrying PlaceOrder. */
export interface FluxGateClient {
  readonly orders: Client<typeof OrderGateService>;
  readonly inventory: Client<typeof InventoryService>;
  readonly admin: Client<typeof AdminService>;
  /** Places one logical order with retries under one idempotency key. */
  placeOrder(input: OrderInput, options?: RetryCallOptions): ReturnType<typeof placeOrder>;
  /** Adds units to a sale once, with retries under one idempotency key (needs the admin token). */
  restock(input: RestockInput, options?: RetryCallOptions): ReturnType<typeof restock>;
}

/** Creates a client; calls share one HTTP/2 connection. */
export function createFluxGateClient(options: FluxGateClientOptions): FluxGateClient {
  // Only admin calls carry the token.
  const auth: Interceptor = (next) => (req) => {
    if (options.adminToken !== undefined && req.service.typeName === AdminService.typeName) {
      req.header.set('authorization', `Bearer ${options.adminToken}`);
    }
    return next(req);
  };
  const transport = createGrpcTransport({ baseUrl: options.baseUrl, interceptors: [auth] });
  const orders = createClient(OrderGateService, transport);
  const admin = createClient(AdminService, transport);
  const retryOptions = ({ deadlineMs, ...rest }: RetryCallOptions = {}): RetryOptions => ({
    ...rest,
    policy: deadlineMs === undefined ? options.retry : { ...options.retry, deadlineMs },
  });
  return {
    orders,
    inventory: createClient(InventoryService, transport),
    admin,
    placeOrder: (input, callOptions) => placeOrder(orders, input, retryOptions(callOptions)),
    restock: (input, callOptions) => restock(admin, input, retryOptions(callOptions)),
  };
}
