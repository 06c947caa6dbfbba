/**
 * Every service the gate serves, on one router: the public API, AdminService behind its
 * token, gRPC health, and server reflection when enabled.
 */
import type { ConnectRouter } from '@connectrpc/connect';
import type { Logger } from 'pino';
import { AdminService } from '../../gen/fluxgate/v1/admin_pb.js';
import { InventoryService } from '../../gen/fluxgate/v1/inventory_pb.js';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { QueueService } from '../../gen/fluxgate/v1/queue_pb.js';
import { Health } from '../../gen/grpc/health/v1/health_pb.js';
import type { Config } from '../config.js';
import type { Admin } from '../domain/admin.js';
import type { OrderViewSource } from '../domain/order-view.js';
import type { OrderPlacer } from '../domain/place-order.js';
import type { SaleWatch } from '../domain/sale-watch.js';
import type { Readiness } from '../ops/readiness.js';
import { createAdminService } from './admin-service.js';
import { createHealthService } from './health.js';
import { createInventoryService } from './inventory-service.js';
import { createOrderGateService } from './order-gate-service.js';
import { createQueueService, type QueueServiceDeps } from './queue-service.js';
import { addReflection } from './reflection.js';

/** What the gate's services are built from. */
export interface GateRoutesDeps {
  readonly config: Pick<Config, 'maxQuantity' | 'reflection'>;
  readonly placer: OrderPlacer;
  readonly orders: OrderViewSource;
  readonly admin: Admin;
  /** A sale's live figures, shared by every console watching it. */
  readonly saleWatch: Pick<SaleWatch, 'watch'>;
  /** Subscribes to an order's status changes; returns the unsubscribe function. */
  readonly onOrderStatus: (orderId: string, listener: () => void) => () => void;
  /** Subscribes to sale changes; returns the unsubscribe function. */
  readonly onSaleChanged: (listener: (sku: string) => void) => () => void;
  /** The waiting room: reads tickets, and where they stand. */
  readonly tickets: QueueServiceDeps['tickets'];
  readonly queueWatch: QueueServiceDeps['queueWatch'];
  readonly queue: QueueServiceDeps['queue'];
  readonly readiness: Readiness;
  readonly logger: Pick<Logger, 'info'>;
}

/** The route registration for buildServer. */
export function gateRoutes(deps: GateRoutesDeps): (router: ConnectRouter) => void {
  const { config, admin } = deps;
  const served = [OrderGateService, InventoryService, QueueService, AdminService];
  return (router) => {
    router.service(
      OrderGateService,
      createOrderGateService({
        placer: deps.placer,
        orders: deps.orders,
        onOrderStatus: deps.onOrderStatus,
        maxQuantity: config.maxQuantity,
        logger: deps.logger,
      }),
    );
    router.service(
      InventoryService,
      createInventoryService({
        stock: (sku) => admin.stock(sku),
        onSaleChanged: deps.onSaleChanged,
      }),
    );
    router.service(
      QueueService,
      createQueueService({
        tickets: deps.tickets,
        queueWatch: deps.queueWatch,
        queue: deps.queue,
      }),
    );
    // Guarded by createAdminAuth, in the server's interceptor list.
    router.service(AdminService, createAdminService(admin, deps.saleWatch));
    router.service(
      Health,
      createHealthService(
        deps.readiness,
        served.map((s) => s.typeName),
      ),
    );
    if (config.reflection) addReflection(router, [...served, Health]);
  };
}
