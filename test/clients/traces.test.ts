/**
 * One order's trace, whole, at a real OTLP endpoint: Jaeger (built from the Go module proxy,
 * its in-memory store) receives the spans of the compiled gate and worker, and its query API
 * must give back one trace holding the gate's RPC span (the child of the caller's traceparent),
 * the Lua script and the publish under it, and the worker's record span and database
 * transaction under the publish, across the two services (docs/tracing.md).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, test } from 'vitest';
import { createFluxGateClient } from '../../src/client/node.js';
import { createTopics } from '../../src/kafka/topics.js';
import {
  cleanUpAfterFile,
  envFor,
  freePort,
  spawnGate,
  spawnProcess,
  spawnProgram,
  type Spawned,
} from '../support/processes.js';
import { createTestSale, testSale } from '../support/sales.js';
import { eventually, readTopic } from '../support/stack.js';
import { adminToken } from '../support/system.js';

/** A span as Jaeger's query API (/api/traces/<id>) gives it. */
interface JaegerSpan {
  readonly spanID: string;
  readonly operationName: string;
  readonly processID: string;
  readonly references: readonly { refType: string; traceID: string; spanID: string }[];
  readonly tags: readonly { key: string; value: unknown }[];
}
interface JaegerTrace {
  readonly spans: readonly JaegerSpan[];
  readonly processes: Readonly<Record<string, { serviceName: string }>>;
}

const cleanUp = cleanUpAfterFile();
let jaeger: Spawned;
let otlpUrl: string;
let queryUrl: string;

/** Jaeger v2 with only what the test needs, every port chosen free, on loopback. */
function jaegerConfig(otlpPort: number, queryPort: number, queryGrpcPort: number): string {
  return `
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:${String(queryPort)}
    grpc:
      endpoint: 127.0.0.1:${String(queryGrpcPort)}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${String(otlpPort)}
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`;
}

beforeAll(async () => {
  // A clean machine builds Jaeger from the Go module proxy first: a long build.
  const installed = await promisify(execFile)('bash', ['scripts/go-tool.sh', 'jaeger'], {
    encoding: 'utf8',
    timeout: 3_600_000,
  });
  const [otlpPort, queryPort, queryGrpcPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const configFile = join(mkdtempSync(join(tmpdir(), 'fluxgate-jaeger-')), 'config.yaml');
  writeFileSync(configFile, jaegerConfig(otlpPort, queryPort, queryGrpcPort));
  jaeger = spawnProgram(installed.stdout.trim(), ['--config', configFile]);
  cleanUp.track(jaeger);
  otlpUrl = `http://127.0.0.1:${String(otlpPort)}`;
  queryUrl = `http://127.0.0.1:${String(queryPort)}`;
  await eventually(
    async () => (await fetch(`${queryUrl}/api/services`).catch(() => undefined))?.ok === true,
    60_000,
    `Jaeger's query API; Jaeger printed:\n${jaeger.output()}`,
  );
}, 3_700_000);

/** The trace `traceId` as Jaeger has it so far (undefined while it has none). */
async function jaegerTrace(traceId: string): Promise<JaegerTrace | undefined> {
  const res = await fetch(`${queryUrl}/api/traces/${traceId}`);
  if (res.status === 404) return undefined;
  expect(res.status).toBe(200);
  const body = (await res.json()) as { data: JaegerTrace[] };
  return body.data[0];
}

describe('traces', () => {
  test('one order: a whole trace from the gate RPC to the worker transaction', async () => {
    const { config, gate, url } = await spawnGate({ otlpEndpoint: otlpUrl });
    cleanUp.track(gate);
    cleanUp.dropDataOf(config);
    const worker = spawnProcess('main-worker', envFor(config));
    cleanUp.track(worker);
    await worker.waitFor(/"msg":"worker consuming"/);
    const client = createFluxGateClient({ baseUrl: url, adminToken });
    await createTestSale(client.admin, testSale('TRACE-1', { totalStock: 5 }));

    // The caller's own span: the gate's RPC span must continue its trace.
    const traceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    const { orderId } = await client.orders.placeOrder(
      { sku: 'TRACE-1', quantity: 1, customerId: 'alice', idempotencyKey: randomUUID() },
      { headers: { traceparent: `00-${traceId}-${callerSpanId}-01` } },
    );
    await worker.waitFor(new RegExp(`"orderId":"${orderId}".*"msg":"order persisted"`));

    const orders = createTopics(config.topicPrefix).orders;
    const names = {
      rpc: 'fluxgate.v1.OrderGateService/PlaceOrder',
      script: 'EVALSHA place-order.lua',
      publish: `${orders} publish`,
      record: `${orders} process`,
      transaction: 'order batch transaction',
    };
    let found: JaegerTrace | undefined;
    await eventually(
      async () => {
        found = await jaegerTrace(traceId);
        const have = new Set(found?.spans.map((s) => s.operationName));
        return Object.values(names).every((name) => have.has(name));
      },
      60_000,
      `every span of trace ${traceId} in Jaeger`,
    );
    const whole = found as JaegerTrace;
    const one = (name: string) => {
      const spans = whole.spans.filter((s) => s.operationName === name);
      expect(spans, name).toHaveLength(1);
      return spans[0] as JaegerSpan;
    };
    const parentOf = (span: JaegerSpan) => {
      const refs = span.references.filter((r) => r.refType === 'CHILD_OF');
      expect(refs, span.operationName).toHaveLength(1);
      expect(refs[0]?.traceID).toBe(traceId);
      return refs[0]?.spanID;
    };
    const serviceOf = (span: JaegerSpan) => whole.processes[span.processID]?.serviceName;
    const rpc = one(names.rpc);
    const publish = one(names.publish);
    const record = one(names.record);
    const transaction = one(names.transaction);

    expect(parentOf(rpc)).toBe(callerSpanId);
    expect(parentOf(one(names.script))).toBe(rpc.spanID);
    expect(parentOf(publish)).toBe(rpc.spanID);
    expect(parentOf(record)).toBe(publish.spanID);
    expect(parentOf(transaction)).toBe(record.spanID);
    for (const span of [rpc, one(names.script), publish])
      expect(serviceOf(span)).toBe('fluxgate-gate');
    for (const span of [record, transaction]) expect(serviceOf(span)).toBe('fluxgate-worker');

    // The link between the services is the record's traceparent header: the publish span's.
    const [published] = await readTopic(config, orders, (r) => r.length >= 1);
    expect(published?.headers?.traceparent?.toString()).toBe(`00-${traceId}-${publish.spanID}-01`);
  });
});
