/**
 * The only reader of `process.env`. Every setting has an env name, a default and a one-line
 * meaning; {@link loadConfig} validates them all at start-up and returns a frozen object.
 * README's configuration table mirrors {@link settings} (a test keeps them in step).
 */
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);
/** `name:token,...`: named secrets, so that logs can say which one was used (never the token). */
const namedTokens = list.pipe(
  z
    .array(
      z
        .string()
        .regex(
          /^[A-Za-z0-9._-]{1,64}:.{16,}$/,
          'each entry must be name:token, the name of A-Z a-z 0-9 . _ -, the token at least 16 characters',
        ),
    )
    .refine(
      (entries) => new Set(entries.map((e) => e.split(':')[0])).size === entries.length,
      'each name may appear once',
    ),
);

/** Each setting: its env name, its default (as the env string) and its meaning. */
export const settings = {
  gateHost: {
    env: 'FLUXGATE_GATE_HOST',
    default: '127.0.0.1',
    schema: z.string().min(1),
    doc: 'Address the gate listens on.',
  },
  gatePort: {
    env: 'FLUXGATE_GATE_PORT',
    default: '8080',
    schema: int(0, 65535),
    doc: 'Port for gRPC (h2c), Connect and gRPC-Web (HTTP/1.1 and h2c on one port).',
  },
  gateProcesses: {
    env: 'FLUXGATE_GATE_PROCESSES',
    default: '1',
    schema: int(1, 256),
    doc: 'Gate processes on the one port (Node cluster). Above 1 a primary process starts them, replaces one that dies, passes SIGTERM/SIGINT on and serves the operations port for them all.',
  },
  tlsCertFile: {
    env: 'FLUXGATE_TLS_CERT_FILE',
    default: '',
    schema: z.string(),
    doc: 'PEM certificate; with the key, the gate serves TLS (h2 and HTTP/1.1 by ALPN).',
  },
  tlsKeyFile: {
    env: 'FLUXGATE_TLS_KEY_FILE',
    default: '',
    schema: z.string(),
    doc: 'PEM private key for the certificate.',
  },
  opsHost: {
    env: 'FLUXGATE_OPS_HOST',
    default: '127.0.0.1',
    schema: z.string().min(1),
    doc: 'Address of the operations port (/metrics, /healthz, /readyz) of gate and worker.',
  },
  gateOpsPort: {
    env: 'FLUXGATE_GATE_OPS_PORT',
    default: '9464',
    schema: int(0, 65535),
    doc: "The gate's operations port.",
  },
  workerOpsPort: {
    env: 'FLUXGATE_WORKER_OPS_PORT',
    default: '9465',
    schema: int(0, 65535),
    doc: "The worker's operations port.",
  },
  reflection: {
    env: 'FLUXGATE_REFLECTION',
    default: 'true',
    schema: bool,
    doc: 'Serve gRPC server reflection (v1 and v1alpha), so tools need no schema.',
  },
  corsOrigins: {
    env: 'FLUXGATE_CORS_ORIGINS',
    default: 'http://localhost:5173',
    schema: list.pipe(z.array(z.url())),
    doc: 'Browser origins allowed to call the gate from other sites (comma-separated; the storefront the gate serves needs none).',
  },
  storefrontDir: {
    env: 'FLUXGATE_STOREFRONT_DIR',
    default: 'dist/web',
    schema: z.string(),
    doc: 'Folder of the built storefront and sale console, served at `/` and `/console` when it exists (empty: none).',
  },
  startupTimeoutSeconds: {
    env: 'FLUXGATE_STARTUP_TIMEOUT_SECONDS',
    default: '120',
    schema: int(1, 3600),
    doc: 'How long start-up keeps retrying unreachable Redis, Kafka or PostgreSQL before giving up.',
  },
  redisUrl: {
    env: 'FLUXGATE_REDIS_URL',
    default: 'redis://127.0.0.1:6379',
    schema: list
      .pipe(z.array(z.url().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL')).min(1))
      .transform((urls) => urls.join(',')),
    doc: 'Redis holding stock, buckets, idempotency entries and the outbox; several comma-separated nodes name a Redis Cluster.',
  },
  redisCluster: {
    env: 'FLUXGATE_REDIS_CLUSTER',
    default: 'false',
    schema: bool,
    doc: 'Treat FLUXGATE_REDIS_URL as a Redis Cluster even when it names one node (the rest are discovered).',
  },
  redisWaitReplicas: {
    env: 'FLUXGATE_REDIS_WAIT_REPLICAS',
    default: '0',
    schema: int(0, 5),
    doc: 'Replicas that must hold an accepted order before the gate answers or publishes it (Redis WAIT; 0: none).',
  },
  redisWaitTimeoutMs: {
    env: 'FLUXGATE_REDIS_WAIT_TIMEOUT_MS',
    default: '100',
    schema: int(1, 10_000),
    doc: 'Longest the gate waits for those replicas; past it the buyer is told the outcome is unknown (retry with the same key), never accepted.',
  },
  kafkaBrokers: {
    env: 'FLUXGATE_KAFKA_BROKERS',
    default: '127.0.0.1:9092',
    schema: list.pipe(z.array(z.string().min(1)).min(1)),
    doc: 'Comma-separated Kafka bootstrap brokers.',
  },
  databaseUrl: {
    env: 'FLUXGATE_DATABASE_URL',
    default: 'postgres://fluxgate:fluxgate@127.0.0.1:5432/fluxgate',
    schema: z.url(),
    doc: 'PostgreSQL for orders and products.',
  },
  databaseSchema: {
    env: 'FLUXGATE_DATABASE_SCHEMA',
    default: 'public',
    schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/),
    doc: 'PostgreSQL schema holding the tables (created if missing; isolates tests).',
  },
  topicPrefix: {
    env: 'FLUXGATE_TOPIC_PREFIX',
    default: '',
    schema: z.string().regex(/^[A-Za-z0-9._-]*$/),
    doc: 'Prefix for every Kafka topic name (isolates tests and environments).',
  },
  orderTopicPartitions: {
    env: 'FLUXGATE_ORDER_TOPIC_PARTITIONS',
    default: '3',
    schema: int(1, 1000),
    doc: 'Partitions of the order topic, when a gate or worker creates it: at most this many workers share the orders (an existing topic keeps its count; a difference is warned at start-up).',
  },
  redisKeyPrefix: {
    env: 'FLUXGATE_REDIS_PREFIX',
    default: 'fg',
    schema: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
    doc: 'Prefix for every Redis key (isolates tests and environments).',
  },
  maxQuantity: {
    env: 'FLUXGATE_MAX_QUANTITY',
    default: '10',
    schema: int(1, 1_000_000),
    doc: 'Most units one order may ask for.',
  },
  idempotencyTtlSeconds: {
    env: 'FLUXGATE_IDEMPOTENCY_TTL_SECONDS',
    default: '86400',
    schema: int(60, 30 * 86400),
    doc: 'How long an idempotency key is remembered (at least 24 h is advised).',
  },
  customerRate: {
    env: 'FLUXGATE_CUSTOMER_RATE',
    default: '2',
    schema: int(1, 1_000_000),
    doc: 'Per-customer admission rate, orders per second, for every sale.',
  },
  customerBurst: {
    env: 'FLUXGATE_CUSTOMER_BURST',
    default: '5',
    schema: int(1, 1_000_000),
    doc: 'Per-customer admission burst.',
  },
  admissionLeaseMs: {
    env: 'FLUXGATE_ADMISSION_LEASE_MS',
    default: '50',
    schema: int(0, 60_000),
    doc: "While a sale is over its admission rate, each gate takes the sale's tokens from Redis in leases, at most one call per this many ms (longer at low rates: 16 tokens a call), and refuses over-rate, paused and not-yet-open orders without Redis (0: every order asks Redis).",
  },
  queueTicketKeys: {
    env: 'FLUXGATE_QUEUE_TICKET_KEYS',
    default: '',
    secret: true,
    schema: namedTokens,
    doc: 'Keys that sign waiting-room tickets, `id:secret,...`, the same at every gate: the first signs, all verify (add a new key first to rotate). Empty: a random key per process, so tickets hold only at the gate process that issued them (warned at start-up).',
  },
  queueTurnMs: {
    env: 'FLUXGATE_QUEUE_TURN_MS',
    default: '30000',
    schema: int(100, 3_600_000),
    doc: 'How long a called waiting-room ticket admits an order; a ticket not used by then is skipped (its holder queues again).',
  },
  queueBlockMax: {
    env: 'FLUXGATE_QUEUE_BLOCK_MAX',
    default: '64',
    schema: int(1, 10_000),
    doc: 'Largest block of ticket numbers a gate takes from Redis in one call (the fairness bound across gates grows with it).',
  },
  queueBlockMaxAgeMs: {
    env: 'FLUXGATE_QUEUE_BLOCK_MAX_AGE_MS',
    default: '250',
    schema: int(1, 60_000),
    doc: 'A block of ticket numbers is handed out within this long of being taken or dropped: no buyer is overtaken by one who arrived later than this at another gate.',
  },
  queuePollMs: {
    env: 'FLUXGATE_QUEUE_POLL_MS',
    default: '200',
    schema: int(10, 60_000),
    doc: "How often a gate reads a sale's queue while buyers watch their tickets there (one read per sale, shared by all its watchers).",
  },
  saleWatchPollMs: {
    env: 'FLUXGATE_SALE_WATCH_POLL_MS',
    default: '1000',
    schema: int(100, 60_000),
    doc: "How often a gate reads a sale's live figures while consoles watch it (AdminService.WatchSaleStats: one read per sale, shared by all its watchers).",
  },
  maxOrdersInFlight: {
    env: 'FLUXGATE_MAX_ORDERS_IN_FLIGHT',
    default: '64',
    schema: int(1, 1_000_000),
    doc: 'Most orders one gate process decides at once (reservation started, not answered); past it PlaceOrder calls are refused unavailable (GATE_OVERLOADED) before they are read.',
  },
  maxEventLoopDelayMs: {
    env: 'FLUXGATE_MAX_EVENT_LOOP_DELAY_MS',
    default: '0',
    schema: int(0, 60_000),
    doc: "While the gate's event loop runs later than this on average (100 ms windows), a growing share of PlaceOrder calls is refused GATE_OVERLOADED before being read (0: not watched).",
  },
  publishLingerMs: {
    env: 'FLUXGATE_PUBLISH_LINGER_MS',
    default: '0',
    schema: int(0, 1000),
    doc: 'How long the publisher holds an order for others to join its produce request (0: it goes at the end of the event-loop turn, with the orders that came while the previous request was in flight).',
  },
  completionLingerMs: {
    env: 'FLUXGATE_COMPLETION_LINGER_MS',
    default: '10',
    schema: int(0, 1000),
    doc: 'How long the gate gathers Kafka-acknowledged orders before completing them in Redis in one script call (0: at the end of the event-loop turn); no answer waits for it, and the outbox relay leaves an order alone for FLUXGATE_OUTBOX_GRACE_MS.',
  },
  publishMaxBatch: {
    env: 'FLUXGATE_PUBLISH_MAX_BATCH',
    default: '500',
    schema: int(1, 100_000),
    doc: 'Most orders in one produce request.',
  },
  publishTimeoutMs: {
    env: 'FLUXGATE_PUBLISH_TIMEOUT_MS',
    default: '3000',
    schema: int(100, 120_000),
    doc: 'After this the publish outcome counts as unknown and the outbox relay takes over.',
  },
  outboxGraceMs: {
    env: 'FLUXGATE_OUTBOX_GRACE_MS',
    default: '4000',
    schema: int(100, 3_600_000),
    doc: 'Outbox entries older than this are published by the relay (keep it above the publish timeout, or orders are published twice: harmless, but wasted).',
  },
  outboxMaxEntries: {
    env: 'FLUXGATE_OUTBOX_MAX_ENTRIES',
    default: '100000',
    schema: int(1, 100_000_000),
    doc: 'Most orders one sale may hold in the outbox while the broker is unreachable; past it orders are refused unavailable.',
  },
  outboxMaxAgeMs: {
    env: 'FLUXGATE_OUTBOX_MAX_AGE_MS',
    default: '120000',
    schema: int(1000, 86_400_000),
    doc: 'Oldest age an outbox entry may reach (the broker unreachable that long); past it orders are refused unavailable.',
  },
  redisCommandTimeoutMs: {
    env: 'FLUXGATE_REDIS_COMMAND_TIMEOUT_MS',
    default: '500',
    schema: int(10, 60_000),
    doc: 'A Redis command not answered by then fails (a hung Redis); failures open the circuit breaker.',
  },
  redisProbeAfterMs: {
    env: 'FLUXGATE_REDIS_PROBE_AFTER_MS',
    default: '500',
    schema: int(10, 600_000),
    doc: 'How long the Redis circuit stays open (requests refused at once) before a request probes Redis.',
  },
  kafkaProbeAfterMs: {
    env: 'FLUXGATE_KAFKA_PROBE_AFTER_MS',
    default: '1000',
    schema: int(10, 600_000),
    doc: 'How long the broker circuit stays open (orders go straight to the outbox) before a publish probes the broker.',
  },
  outboxRelayIntervalMs: {
    env: 'FLUXGATE_OUTBOX_RELAY_INTERVAL_MS',
    default: '1000',
    schema: int(10, 600_000),
    doc: 'How often the relay looks for old outbox entries.',
  },
  maxMessageBytes: {
    env: 'FLUXGATE_MAX_MESSAGE_BYTES',
    default: '65536',
    schema: int(1024, 16 * 1024 * 1024),
    doc: 'Largest request message accepted, after decompression.',
  },
  compressions: {
    env: 'FLUXGATE_COMPRESSIONS',
    default: 'gzip,br',
    schema: list.pipe(z.array(z.enum(['gzip', 'br']))),
    doc: 'Request/response compressions the gate accepts (empty for none).',
  },
  maxDeadlineMs: {
    env: 'FLUXGATE_MAX_DEADLINE_MS',
    default: '30000',
    schema: int(100, 3_600_000),
    doc: "Longest deadline a call runs with: a longer one is lowered to this (as Envoy's max_grpc_timeout), never refused.",
  },
  headersTimeoutMs: {
    env: 'FLUXGATE_HEADERS_TIMEOUT_MS',
    default: '10000',
    schema: int(100, 600_000),
    doc: 'Time a client has to send request headers; also a new connection its first bytes, and a new HTTP/2 connection its first stream.',
  },
  requestTimeoutMs: {
    env: 'FLUXGATE_REQUEST_TIMEOUT_MS',
    default: '60000',
    schema: int(0, 3_600_000),
    doc: 'Time a client has to send a whole request, HTTP/1.1 or one HTTP/2 stream (0: none).',
  },
  http2MaxConcurrentStreams: {
    env: 'FLUXGATE_HTTP2_MAX_CONCURRENT_STREAMS',
    default: '250',
    schema: int(1, 100_000),
    doc: 'HTTP/2 streams one connection may open at once.',
  },
  http2IdleTimeoutMs: {
    env: 'FLUXGATE_HTTP2_IDLE_TIMEOUT_MS',
    default: '60000',
    schema: int(100, 3_600_000),
    doc: 'An HTTP/2 connection with no open stream for this long is closed (GOAWAY).',
  },
  http1KeepAliveTimeoutMs: {
    env: 'FLUXGATE_HTTP1_KEEP_ALIVE_TIMEOUT_MS',
    default: '65000',
    schema: int(100, 3_600_000),
    doc: 'An HTTP/1.1 connection idle between requests for this long is closed. Longer than the idle timeouts of common clients and load balancers (60 s), so that they close first and never send on a socket the gate is closing.',
  },
  http2ResetBurst: {
    env: 'FLUXGATE_HTTP2_RESET_BURST',
    default: '500',
    schema: int(1, 1_000_000),
    doc: 'Streams a client may reset on one HTTP/2 connection at once; past it and the reset rate the connection is closed (rapid reset).',
  },
  http2ResetRate: {
    env: 'FLUXGATE_HTTP2_RESET_RATE',
    default: '50',
    schema: int(1, 1_000_000),
    doc: 'Stream resets per second one HTTP/2 connection may keep up.',
  },
  maxConnections: {
    env: 'FLUXGATE_MAX_CONNECTIONS',
    default: '10000',
    schema: int(1, 1_000_000),
    doc: 'Most connections the gate holds at once; more are closed as they arrive (keep it below the file-descriptor limit).',
  },
  connectionRate: {
    env: 'FLUXGATE_CONNECTION_RATE',
    default: '20',
    schema: int(1, 1_000_000),
    doc: 'New connections per second one client address may keep up (behind a proxy: the proxy).',
  },
  connectionBurst: {
    env: 'FLUXGATE_CONNECTION_BURST',
    default: '100',
    schema: int(1, 1_000_000),
    doc: 'New connections one client address may open at once; an address whose connection was closed for abuse waits for a whole burst.',
  },
  timeoutCheckIntervalMs: {
    env: 'FLUXGATE_TIMEOUT_CHECK_INTERVAL_MS',
    default: '1000',
    schema: int(10, 60_000),
    doc: 'How often connection and stream timeouts are checked; each acts within this much of its value.',
  },
  shutdownGraceMs: {
    env: 'FLUXGATE_SHUTDOWN_GRACE_MS',
    default: '10000',
    schema: int(0, 600_000),
    doc: 'On SIGTERM, how long in-flight calls may finish before the process exits.',
  },
  adminToken: {
    env: 'FLUXGATE_ADMIN_TOKEN',
    default: '',
    secret: true,
    schema: z
      .string()
      .refine(
        (t) => t === '' || t.length >= 16,
        'must be empty (admin disabled) or at least 16 characters',
      ),
    doc: 'Bearer token for AdminService; empty disables every admin call.',
  },
  adminTokens: {
    env: 'FLUXGATE_ADMIN_TOKENS',
    default: '',
    secret: true,
    schema: namedTokens,
    doc: "More AdminService tokens, `name:token,...`, beside FLUXGATE_ADMIN_TOKEN (named `default`): several may be valid at once, for rotation; every admin call is logged with its token's name.",
  },
  buyerAuth: {
    env: 'FLUXGATE_BUYER_AUTH',
    default: 'open',
    schema: z.enum(['open', 'jwt']),
    doc: "PlaceOrder callers: `jwt` needs a buyer token (its subject is the customer) or a service token; `open` trusts the body's customer id, for local runs and tests (warned at start-up).",
  },
  jwksUrl: {
    env: 'FLUXGATE_JWKS_URL',
    default: '',
    schema: z.union([z.literal(''), z.url()]),
    doc: "The identity provider's JWKS, for buyer tokens (cached; fetched again for an unknown key at most every 30 s).",
  },
  jwksFile: {
    env: 'FLUXGATE_JWKS_FILE',
    default: '',
    schema: z.string(),
    doc: 'A JWKS file instead of the URL, read at start-up.',
  },
  jwtIssuer: {
    env: 'FLUXGATE_JWT_ISSUER',
    default: '',
    schema: z.string(),
    doc: 'The `iss` a buyer token must carry (empty: not checked).',
  },
  jwtAudience: {
    env: 'FLUXGATE_JWT_AUDIENCE',
    default: '',
    schema: z.string(),
    doc: 'The `aud` a buyer token must carry (empty: not checked).',
  },
  jwtClockSkewSeconds: {
    env: 'FLUXGATE_JWT_CLOCK_SKEW_SECONDS',
    default: '30',
    schema: int(0, 600),
    doc: "Clock skew tolerated on a buyer token's `exp` and `nbf`.",
  },
  serviceTokens: {
    env: 'FLUXGATE_SERVICE_TOKENS',
    default: '',
    secret: true,
    schema: namedTokens,
    doc: 'Backends placing orders for customers, `name:token,...`: a call with `authorization: Bearer <token>` may name any customer id.',
  },
  workerGroupId: {
    env: 'FLUXGATE_WORKER_GROUP',
    default: 'fluxgate-worker',
    schema: z.string().min(1),
    doc: 'Kafka consumer group of the worker.',
  },
  workerTransactionSize: {
    env: 'FLUXGATE_WORKER_TRANSACTION_SIZE',
    default: '1000',
    schema: int(1, 100_000),
    doc: "Most orders one worker transaction records; a larger Kafka batch takes several, each one's announcements overlapping the next one's transaction.",
  },
  workerFetchMinBytes: {
    env: 'FLUXGATE_WORKER_FETCH_MIN_BYTES',
    default: '262144',
    schema: int(1, 10_000_000),
    doc: 'Bytes of orders (about 250 each) the broker gathers before it answers a worker fetch, unless the wait below ends first: fewer, larger batches cost the broker, the worker and PostgreSQL less per order (1: answer as soon as there is one).',
  },
  workerFetchMaxWaitMs: {
    env: 'FLUXGATE_WORKER_FETCH_MAX_WAIT_MS',
    default: '100',
    schema: int(10, 30_000),
    doc: 'Longest the broker holds a worker fetch for those bytes: an order is persisted up to this much later, and an idle worker fetches this often.',
  },
  workerMigrate: {
    env: 'FLUXGATE_WORKER_MIGRATE',
    default: 'true',
    schema: bool,
    doc: 'Run pending database migrations when the worker starts.',
  },
  workerFailpoint: {
    env: 'FLUXGATE_FAILPOINT',
    default: '',
    schema: z.enum(['', 'after-commit-before-offsets']),
    doc: 'Test only, off when empty: `after-commit-before-offsets` makes the worker SIGKILL itself once a batch is committed, before its offsets.',
  },
  otlpEndpoint: {
    env: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    default: '',
    schema: z.union([z.literal(''), z.url().regex(/^https?:\/\//, 'an http:// or https:// URL')]),
    doc: 'OTLP/HTTP endpoint (base URL; spans go to `/v1/traces` under it) of the trace collector. Empty: tracing off, at no cost on the order path.',
  },
  serviceName: {
    env: 'OTEL_SERVICE_NAME',
    default: '',
    schema: z.string(),
    doc: 'Service name on exported spans; empty: `fluxgate-gate` for the gate, `fluxgate-worker` for the worker.',
  },
  traceSampleRatio: {
    env: 'FLUXGATE_TRACE_SAMPLE_RATIO',
    default: '1',
    schema: z.coerce.number().min(0).max(1),
    doc: "Share of the traces the gate starts that are recorded (0 to 1); a call that brings a `traceparent` keeps its caller's decision, and the worker follows the gate's.",
  },
  logLevel: {
    env: 'FLUXGATE_LOG_LEVEL',
    default: 'info',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    doc: 'Log level (pino).',
  },
} as const;

type Settings = typeof settings;

/** The validated, frozen configuration. */
export type Config = { readonly [K in keyof Settings]: z.output<Settings[K]['schema']> };

/** Raised when configuration is invalid; `problems` holds one line per bad setting. */
export class ConfigError extends Error {
  /** One human-readable line per problem, naming the env variable. */
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * Reads and validates every setting from `env` (default: `process.env`), with `overrides`
 * (already typed values) taking precedence, as tests and benchmarks need.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Config> = {},
): Config {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(settings)) {
    if (key in overrides) {
      values[key] = overrides[key as keyof Config];
      continue;
    }
    const raw = env[setting.env] ?? setting.default;
    const parsed = (setting.schema as z.ZodType).safeParse(raw);
    if (parsed.success) values[key] = parsed.data;
    else {
      // A token's value never reaches the error output (logs, terminals, CI output).
      const shown = 'secret' in setting ? '(secret, not shown)' : JSON.stringify(raw);
      problems.push(
        `${setting.env}=${shown}: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
      );
    }
  }
  if ((values.tlsCertFile === '') !== (values.tlsKeyFile === '')) {
    problems.push('FLUXGATE_TLS_CERT_FILE and FLUXGATE_TLS_KEY_FILE must be set together');
  }
  if (values.buyerAuth === 'jwt' && (values.jwksUrl === '') === (values.jwksFile === '')) {
    problems.push(
      'FLUXGATE_BUYER_AUTH=jwt needs exactly one of FLUXGATE_JWKS_URL and FLUXGATE_JWKS_FILE',
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(values) as Config;
}
