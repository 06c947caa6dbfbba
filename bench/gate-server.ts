/**
 * The server side of the gate benchmark, run as its own process (pinned to its own core by
 * gate.ts): three targets side by side, each on its own port of the same process.
 * - gate: the full gate (startGate): validation, the Lua reservation, the batched Kafka publish;
 * - noop: the same buildServer (Fastify + Connect, same limits), PlaceOrder answering at once;
 * - bare: plain Fastify with one JSON POST route.
 * Prints one JSON line with the three base URLs and the gate's operations URL, then serves
 * until SIGTERM.
 */
import { create } from '@bufbuild/protobuf';
import { fastify } from 'fastify';
import { pino } from 'pino';
import { OrderStatus } from '../gen/fluxgate/v1/order_pb.js';
import { OrderGateService, PlaceOrderResponseSchema } from '../gen/fluxgate/v1/order_gate_pb.js';
import { loadConfig } from '../src/config.js';
import { buildServer } from '../src/gate/build-server.js';
import { startGate } from '../src/main-gate.js';

const config = loadConfig(process.env, { gatePort: 0, gateOpsPort: 0, logLevel: 'warn' });

// Logs go to stderr: stdout's first line is the one the benchmark reads.
const gate = await startGate(config, pino({ level: 'warn' }, pino.destination(2)));

const noopResponse = create(PlaceOrderResponseSchema, {
  orderId: '00000000-0000-7000-8000-000000000000',
  status: OrderStatus.PENDING,
});
const noop = await buildServer({
  config,
  logger: pino({ level: 'warn' }),
  routes: (router) => {
    router.service(OrderGateService, { placeOrder: () => noopResponse });
  },
});
const noopUrl = await noop.listen({ host: '127.0.0.1', port: 0 });

const bare = fastify({ logger: false });
bare.post('/order', () => ({ orderId: noopResponse.orderId, status: 'ORDER_STATUS_PENDING' }));
const bareUrl = await bare.listen({ host: '127.0.0.1', port: 0 });

console.log(JSON.stringify({ gate: gate.url, ops: gate.opsUrl, noop: noopUrl, bare: bareUrl }));

process.on('SIGTERM', () => {
  void Promise.all([gate.close(), noop.close(), bare.close()]).then(() => process.exit(0));
});
