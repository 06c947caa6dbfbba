/**
 * Every Prometheus metric the gate and the worker export: the one home of their names, labels
 * and buckets. Each process makes its own registry; grafana/flux-gate.json charts these names.
 */
import {
  AggregatorRegistry,
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type MetricObjectWithValues,
  type MetricValue,
} from 'prom-client';
import type { EdgeAdmissionCounts } from '../admission/edge-admission.js';
import type { TicketDeskCounts } from '../queue/ticket-desk.js';

/** Latency buckets in seconds, from a fast Redis call to a slow Kafka ack. */
const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Batch-size buckets: one order up to the publisher's and the worker's largest batches. */
const sizeBuckets = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000];

/**
 * `child(...labels)` with each label combination bound once: prom-client hashes the labels on
 * every call otherwise, and these are called on every order.
 */
function bindOnce<L extends string[], T>(child: (...labels: L) => T): (...labels: L) => T {
  const bound = new Map<string, T>();
  return (...labels) => {
    const key = labels.join('\u0000');
    let found = bound.get(key);
    if (found === undefined) {
      found = child(...labels);
      bound.set(key, found);
    }
    return found;
  };
}

/**
 * A registry with the process's default metrics (CPU, memory, event loop lag); every series
 * carries the service and `labels`.
 */
function newRegistry(service: 'gate' | 'worker', labels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ ...labels, service });
  collectDefaultMetrics({ register: registry, prefix: 'fluxgate_' });
  return registry;
}

/** How long a scrape waits for the outbox figures from Redis. */
const outboxReadMs = 500;

/** Live values the gate's gauges read at scrape time. */
export interface GateGaugeSources {
  /** Outbox entries and the age of the oldest one, in seconds, per sale. */
  readonly outbox: () => Promise<
    readonly { sku: string; depth: number; oldestAgeSeconds: number }[]
  >;
  /** Sales flagged sold out in this process. */
  readonly soldOutFlags: () => number;
  /** PlaceOrder calls in flight, and the share of new ones admitted (overload shedding). */
  readonly overload: () => { readonly inFlight: number; readonly admittedShare: number };
  /** Edge admission: hot sales, lease calls, tokens and refusals (running totals). */
  readonly admission: () => EdgeAdmissionCounts;
  /** The waiting room's ticket desk: tickets issued and blocks of numbers taken (running totals). */
  readonly tickets: () => TicketDeskCounts;
}

/** A counter that follows a running total kept elsewhere, read at scrape time. */
function followTotal(
  counter: { inc(value: number): void },
  total: number,
  last: { value: number },
): void {
  counter.inc(total - last.value);
  last.value = total;
}

/**
 * The gate's metrics. `labels` go on every series: a gate process under a cluster primary
 * (FLUXGATE_GATE_PROCESSES above 1) has `gate_process`, so that the primary's page keeps each
 * process's series apart.
 */
export function createGateMetrics(sources: GateGaugeSources, labels: Record<string, string> = {}) {
  const registry = newRegistry('gate', labels);
  const registers = [registry];
  const leaseCallsSeen = { value: 0 };
  const leasedTokensSeen = { value: 0 };
  const ticketsSeen = { value: 0 };
  const ticketBlocksSeen = { value: 0 };
  const edgeRefusalsSeen: Record<string, { value: number }> = {};
  // Set by the depth gauge's collect, so both come from one read of the outbox.
  const outboxAge = new Gauge({
    name: 'fluxgate_gate_outbox_oldest_age_seconds',
    help: 'Age of the oldest outbox entry, per sale (0 when empty).',
    labelNames: ['sku'] as const,
    registers,
  });
  const scriptSeconds = new Histogram({
    name: 'fluxgate_gate_redis_script_seconds',
    help: 'Round trip of one Redis Lua script call, by script.',
    labelNames: ['script'] as const,
    buckets: latencyBuckets,
    registers,
  });
  const requests = new Counter({
    name: 'fluxgate_gate_requests_total',
    help: 'RPCs answered, by method and outcome (accepted, replayed, a refusal reason, or an error code).',
    labelNames: ['rpc', 'outcome'] as const,
    registers,
  });
  const malformedRequests = new Counter({
    name: 'fluxgate_gate_malformed_requests_total',
    help: "Calls refused invalid_argument before their request message was decoded (a message or protocol header that does not parse: the caller's error), by protocol. Unary ones never reach a handler, nor fluxgate_gate_requests_total.",
    labelNames: ['protocol'] as const,
    registers,
  });
  return {
    registry,
    /** The counter of malformed requests on one protocol (connect, grpc, grpc-web). */
    malformedRequestCounter: bindOnce((protocol: string) => malformedRequests.labels({ protocol })),
    /** The latency histogram of one script. */
    scriptTimer: bindOnce((script: string) => scriptSeconds.labels({ script })),
    /** The answer counter of one RPC and outcome. */
    requestCounter: bindOnce((rpc: string, outcome: string) => requests.labels({ rpc, outcome })),
    placeOrderSeconds: new Histogram({
      name: 'fluxgate_gate_place_order_seconds',
      help: 'PlaceOrder latency, from request to answer.',
      buckets: latencyBuckets,
      registers,
    }),
    rateLimited: new Counter({
      name: 'fluxgate_gate_rate_limited_total',
      help: 'PlaceOrder calls refused by a token bucket (sale or customer), per sale.',
      labelNames: ['sku'] as const,
      registers,
    }),
    publishSeconds: new Histogram({
      name: 'fluxgate_gate_kafka_publish_seconds',
      help: 'One produce request to Kafka, until acked, failed or timed out, by outcome.',
      labelNames: ['outcome'] as const,
      buckets: latencyBuckets,
      registers,
    }),
    publishBatchSize: new Histogram({
      name: 'fluxgate_gate_kafka_publish_batch_size',
      help: 'Orders gathered into one produce request.',
      buckets: sizeBuckets,
      registers,
    }),
    outboxRelayed: new Counter({
      name: 'fluxgate_gate_outbox_relayed_total',
      help: 'Outbox entries re-published by the relay.',
      registers,
    }),
    outboxDepth: new Gauge({
      name: 'fluxgate_gate_outbox_depth',
      help: 'Orders reserved but not yet acknowledged by Kafka, per sale.',
      labelNames: ['sku'] as const,
      registers,
      async collect() {
        // A Redis that does not answer must not hold the whole scrape: the last values stay.
        const sales = await Promise.race([
          sources.outbox().catch(() => undefined),
          new Promise<undefined>((resolve) => {
            setTimeout(() => resolve(undefined), outboxReadMs).unref();
          }),
        ]);
        if (sales === undefined) return;
        this.reset();
        outboxAge.reset();
        for (const s of sales) {
          this.set({ sku: s.sku }, s.depth);
          outboxAge.set({ sku: s.sku }, s.oldestAgeSeconds);
        }
      },
    }),
    saleWatchReads: new Counter({
      name: 'fluxgate_gate_sale_watch_reads_total',
      help: "Reads of a sale's live figures for consoles watching it (one per sale per interval, however many watch).",
      registers,
    }),
    saleReloads: new Counter({
      name: 'fluxgate_gate_sale_reloads_total',
      help: 'Reloads of a sale the live store had lost, started by this gate, by outcome.',
      labelNames: ['outcome'] as const,
      registers,
    }),
    circuitOpen: new Gauge({
      name: 'fluxgate_gate_circuit_open',
      help: 'Whether the circuit breaker in front of a dependency is open (1) or closed (0).',
      labelNames: ['dependency'] as const,
      registers,
    }),
    soldOutFlags: new Gauge({
      name: 'fluxgate_gate_sold_out_flags',
      help: 'Sales this process currently refuses without asking Redis.',
      registers,
      collect() {
        this.set(sources.soldOutFlags());
      },
    }),
    ordersInFlight: new Gauge({
      name: 'fluxgate_gate_orders_in_flight',
      help: 'PlaceOrder calls this process is working on (bounded by FLUXGATE_MAX_ORDERS_IN_FLIGHT).',
      registers,
      collect() {
        this.set(sources.overload().inFlight);
      },
    }),
    hotSales: new Gauge({
      name: 'fluxgate_gate_admission_hot_sales',
      help: 'Sales this process admits from leased tokens (over their admission rate lately).',
      registers,
      collect() {
        this.set(sources.admission().hotSales);
      },
    }),
    leaseCalls: new Counter({
      name: 'fluxgate_gate_admission_lease_calls_total',
      help: 'Calls to Redis for a lease of admission tokens.',
      registers,
      collect() {
        followTotal(this, sources.admission().leaseCalls, leaseCallsSeen);
      },
    }),
    leasedTokens: new Counter({
      name: 'fluxgate_gate_admission_leased_tokens_total',
      help: 'Admission tokens those calls brought.',
      registers,
      collect() {
        followTotal(this, sources.admission().tokensLeased, leasedTokensSeen);
      },
    }),
    ticketsIssued: new Counter({
      name: 'fluxgate_gate_queue_tickets_issued_total',
      help: 'Waiting-room tickets this process issued (a customer refused again while waiting gets the same one, not counted again).',
      registers,
      collect() {
        followTotal(this, sources.tickets().ticketsIssued, ticketsSeen);
      },
    }),
    ticketBlocks: new Counter({
      name: 'fluxgate_gate_queue_ticket_blocks_total',
      help: 'Calls to Redis for a block of ticket numbers.',
      registers,
      collect() {
        followTotal(this, sources.tickets().blocksTaken, ticketBlocksSeen);
      },
    }),
    edgeRefusals: new Counter({
      name: 'fluxgate_gate_edge_refusals_total',
      help: 'PlaceOrder calls refused by this process without asking Redis, by reason.',
      labelNames: ['reason'] as const,
      registers,
      collect() {
        for (const [reason, total] of Object.entries(sources.admission().refused)) {
          const last = (edgeRefusalsSeen[reason] ??= { value: 0 });
          followTotal(this.labels({ reason }), total, last);
        }
      },
    }),
    admittedShare: new Gauge({
      name: 'fluxgate_gate_admitted_share',
      help: 'Share of new PlaceOrder calls admitted while the event loop runs late (1: all; the rest are refused GATE_OVERLOADED).',
      registers,
      collect() {
        this.set(sources.overload().admittedShare);
      },
    }),
  };
}

/** The gate's metrics, as {@link createGateMetrics} makes them. */
export type GateMetrics = ReturnType<typeof createGateMetrics>;

/** Live values the gate's cluster primary reads at scrape time. */
export interface PrimaryGaugeSources {
  /** Gate processes serving now. */
  readonly listening: () => number;
}

/**
 * The metrics of the gate's cluster primary (FLUXGATE_GATE_PROCESSES above 1): its own process
 * figures (`gate_process="primary"`), the gate processes serving, and the ones started again.
 */
export function createPrimaryMetrics(sources: PrimaryGaugeSources) {
  const registry = newRegistry('gate', { gate_process: 'primary' });
  const registers = [registry];
  return {
    registry,
    processes: new Gauge({
      name: 'fluxgate_gate_processes',
      help: 'Gate processes serving the port under this primary (FLUXGATE_GATE_PROCESSES when all are up).',
      registers,
      collect() {
        this.set(sources.listening());
      },
    }),
    processRestarts: new Counter({
      name: 'fluxgate_gate_process_restarts_total',
      help: 'Gate processes the primary started again after one exited while it was not stopping.',
      registers,
    }),
  };
}

/**
 * One Prometheus page of several processes' registries (each as `getMetricsAsJSON` gives it).
 * Every series carries its process's `gate_process` label, so no two series are ever added
 * together: 'sum' for every metric keeps them all, where prom-client's own choices for a
 * cluster would drop some ('omit' for the start time) or keep one process's ('first').
 */
export function mergeProcessMetrics(
  registries: readonly MetricObjectWithValues<MetricValue<string>>[][],
): Promise<string> {
  return AggregatorRegistry.aggregate(
    registries.map((metrics) => metrics.map((metric) => ({ ...metric, aggregator: 'sum' }))),
  ).metrics();
}

/** Live values the worker's gauges read at scrape time. */
export interface WorkerGaugeSources {
  /** Records not yet committed by the worker's group, per partition of the order topic. */
  readonly lag: () => Promise<readonly { partition: number; lag: number }[]>;
}

/** The worker's metrics. */
export function createWorkerMetrics(sources: WorkerGaugeSources) {
  const registry = newRegistry('worker');
  const registers = [registry];
  return {
    registry,
    batches: new Counter({
      name: 'fluxgate_worker_batches_total',
      help: 'Worker transactions that persisted order records (a Kafka batch takes one or more).',
      registers,
    }),
    batchSize: new Histogram({
      name: 'fluxgate_worker_batch_size',
      help: 'Order records in one worker transaction.',
      buckets: sizeBuckets,
      registers,
    }),
    ordersPersisted: new Counter({
      name: 'fluxgate_worker_orders_persisted_total',
      help: 'Orders written to PostgreSQL, by final status.',
      labelNames: ['status'] as const,
      registers,
    }),
    deadLetters: new Counter({
      name: 'fluxgate_worker_dead_letters_total',
      help: 'Records sent to the dead-letter topic, by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
    transactionSeconds: new Histogram({
      name: 'fluxgate_worker_transaction_seconds',
      help: 'One worker transaction, from BEGIN to COMMIT (retries included).',
      buckets: latencyBuckets,
      registers,
    }),
    consumerLag: new Gauge({
      name: 'fluxgate_worker_consumer_lag',
      help: 'Order records not yet committed by the worker group, per partition.',
      labelNames: ['partition'] as const,
      registers,
      async collect() {
        const partitions = await sources.lag();
        this.reset();
        for (const p of partitions) this.set({ partition: String(p.partition) }, p.lag);
      },
    }),
  };
}

/** The worker's metrics, as {@link createWorkerMetrics} makes them. */
export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;
