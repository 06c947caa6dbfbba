/**
 * OpenTelemetry traces (docs/tracing.md). The code on the order path uses only
 * `@opentelemetry/api`, whose calls do nothing until an SDK is registered; {@link startTracing}
 * registers one only when an OTLP endpoint is configured. Every span on the order path is a
 * child of the gate's RPC span (or, in the worker, of the trace a record carries): work outside
 * a traced call makes no spans, and with tracing off nothing on the order path ever has a span
 * to be the child of, so it costs one context lookup per step.
 */
import {
  context,
  propagation,
  SpanStatusCode,
  trace,
  type Span,
  type SpanOptions,
} from '@opentelemetry/api';
import type { TracerProvider } from '@opentelemetry/sdk-trace';
import type { Config } from './config.js';

/** The tracer every span of Flux-Gate is made with (a no-op until {@link startTracing}). */
export const tracer = trace.getTracer('flux-gate');

/** The SDK of this process, once started, and how many callers share it. */
let registered: { provider: TracerProvider; users: number } | undefined;

/** Tracing as started by {@link startTracing}. */
export interface Tracing {
  /** True when spans are exported. */
  readonly enabled: boolean;
  /** Exports the spans still buffered, then stops (the last user's close). */
  close(): Promise<void>;
}

/**
 * Registers the SDK (context manager, W3C trace context propagator, an OTLP/HTTP protobuf
 * exporter behind a batching processor) when `config.otlpEndpoint` is set; otherwise does
 * nothing. `serviceName` is used when `config.serviceName` is empty. A second call in the same
 * process (tests run a gate and a worker in one) shares the first one's SDK.
 */
export async function startTracing(
  config: Pick<Config, 'otlpEndpoint' | 'serviceName' | 'traceSampleRatio'>,
  serviceName: string,
): Promise<Tracing> {
  if (config.otlpEndpoint === '') return { enabled: false, close: () => Promise.resolve() };
  // Loaded only now: with tracing off not even the SDK's modules are in the process.
  const [
    { AsyncLocalStorageContextManager },
    { W3CTraceContextPropagator },
    { OTLPTraceExporter },
    { resourceFromAttributes },
    { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider },
    { ATTR_SERVICE_NAME },
  ] = await Promise.all([
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/exporter-trace-otlp-proto'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/semantic-conventions'),
  ]);
  if (registered === undefined) {
    const provider = new TracerProvider({
      resource: resourceFromAttributes({
        [ATTR_SERVICE_NAME]: config.serviceName === '' ? serviceName : config.serviceName,
      }),
      // A caller's sampling decision (its traceparent's flag) stands; the ratio decides the rest.
      sampler: new ParentBasedSampler({
        root: new TraceIdRatioBasedSampler(config.traceSampleRatio),
      }),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: new OTLPTraceExporter({
            url: `${config.otlpEndpoint.replace(/\/+$/, '')}/v1/traces`,
          }),
        }),
      ],
    });
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(provider);
    registered = { provider, users: 0 };
  }
  const sdk = registered;
  sdk.users++;
  let closed = false;
  return {
    enabled: true,
    async close() {
      if (closed) return;
      closed = true;
      if (--sdk.users > 0) return;
      await sdk.provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
      registered = undefined;
    },
  };
}

/** Marks `span` failed with `error` (the span is still to be ended). */
function failSpan(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}

/** Runs `work`, then ends `spans`, each marked failed with the error when `work` throws. */
export async function endingSpans<T>(spans: readonly Span[], work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    for (const span of spans) failSpan(span, error);
    throw error;
  } finally {
    for (const span of spans) span.end();
  }
}

/**
 * Runs `work` in a child span of the active span, ended when `work` settles; with no active
 * span (tracing off, or work outside a traced call) runs `work` alone.
 */
export function inChildSpan<T>(
  name: string,
  options: SpanOptions,
  work: () => Promise<T>,
): Promise<T> {
  if (trace.getActiveSpan() === undefined) return work();
  return tracer.startActiveSpan(name, options, (span) => endingSpans([span], work));
}
