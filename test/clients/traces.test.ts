/**
 * One order's trace, whole, at a real OTLP endpoint: a minimal OpenTelemetry Collector (its OTLP
 * receiver and debug exporter, scripts/otlp-receiver, built from the Go module proxy) receives
 * the spans of the compiled gate and worker and prints them, and among them must be one trace
 * holding the gate's RPC span (the child of the caller's traceparent), the Lua script and the
 * publish under it, and the worker's record span and database transaction under the publish,
 * across the two services (docs/tracing.md).
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

/** A span as the collector's debug exporter prints it, with its resource's service name. */
interface ReceivedSpan {
  readonly service: string;
  readonly traceId: string;
  readonly parentId: string;
  readonly id: string;
  readonly name: string;
  readonly kind: string;
}

const cleanUp = cleanUpAfterFile();
let receiver: Spawned;
let otlpUrl: string;

/** Traces over OTLP/HTTP on a free loopback port, printed in full; no telemetry of its own. */
const receiverConfig = (port: number) => `
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${String(port)}
exporters:
  debug:
    verbosity: detailed
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
  telemetry:
    metrics:
      level: none
`;

beforeAll(async () => {
  // A clean machine builds the receiver from the Go module proxy first: allow for it.
  const installed = await promisify(execFile)('bash', ['scripts/go-tool.sh', 'otlp-receiver'], {
    encoding: 'utf8',
  });
  const port = await freePort();
  const configFile = join(mkdtempSync(join(tmpdir(), 'fluxgate-otlp-')), 'config.yaml');
  writeFileSync(configFile, receiverConfig(port));
  receiver = spawnProgram(installed.stdout.trim(), ['--config', configFile]);
  cleanUp.track(receiver);
  await receiver.waitFor(/Everything is ready/);
  otlpUrl = `http://127.0.0.1:${String(port)}`;
}, 1_200_000);

/**
 * Every span the receiver printed so far. The debug exporter writes each batch as resource
 * blocks (`ResourceSpans #n`, its attributes, then `Span #n` blocks of `Field : value` lines).
 */
function receivedSpans(): ReceivedSpan[] {
  return receiver
    .output()
    .split(/ResourceSpans #\d+/)
    .slice(1)
    .flatMap((resource) => {
      const service = /-> service\.name: Str\((.*)\)/.exec(resource)?.[1] ?? '';
      return resource
        .split(/\nSpan #\d+\n/)
        .slice(1)
        .map((block) => {
          const field = (name: string) =>
            new RegExp(`^ *${name} *: ?(.*)$`, 'm').exec(block)?.[1]?.trim() ?? '';
          return {
            service,
            traceId: field('Trace ID'),
            parentId: field('Parent ID'),
            id: field('ID'),
            name: field('Name'),
            kind: field('Kind'),
          };
        });
    });
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
    let trace: ReceivedSpan[] = [];
    await eventually(
      async () => {
        trace = receivedSpans().filter((span) => span.traceId === traceId);
        const have = new Set(trace.map((span) => span.name));
        return Object.values(names).every((name) => have.has(name));
      },
      60_000,
      `every span of trace ${traceId} at the OTLP receiver`,
    );
    const one = (name: string) => {
      const spans = trace.filter((span) => span.name === name);
      expect(spans, name).toHaveLength(1);
      return spans[0] as ReceivedSpan;
    };
    const rpc = one(names.rpc);
    const script = one(names.script);
    const publish = one(names.publish);
    const record = one(names.record);
    const transaction = one(names.transaction);

    expect(rpc.parentId).toBe(callerSpanId);
    expect(script.parentId).toBe(rpc.id);
    expect(publish.parentId).toBe(rpc.id);
    expect(record.parentId).toBe(publish.id);
    expect(transaction.parentId).toBe(record.id);
    expect([rpc.kind, script.kind, publish.kind, record.kind]).toEqual([
      'Server',
      'Client',
      'Producer',
      'Consumer',
    ]);
    for (const span of [rpc, script, publish]) expect(span.service).toBe('fluxgate-gate');
    for (const span of [record, transaction]) expect(span.service).toBe('fluxgate-worker');

    // The link between the services is the record's traceparent header: the publish span's.
    const [published] = await readTopic(config, orders, (r) => r.length >= 1);
    expect(published?.headers?.traceparent?.toString()).toBe(`00-${traceId}-${publish.id}-01`);
  });
});
