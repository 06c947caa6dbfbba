/**
 * The span of each unary RPC (docs/tracing.md): a server span named after the method, the child
 * of the caller's span when the call brings a W3C `traceparent` header, and active while the
 * handler runs, so that the script and publish spans of the call are its children. Streams are
 * not traced: they last as long as someone watches.
 */
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import {
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
} from '@opentelemetry/api';
import {
  ATTR_RPC_METHOD,
  ATTR_RPC_STATUS_CODE,
  ATTR_RPC_SYSTEM_NAME,
  RPC_SYSTEM_NAME_VALUE_GRPC,
} from '@opentelemetry/semantic-conventions';
import { RPC_SYSTEM_NAME_VALUE_CONNECTRPC } from '@opentelemetry/semantic-conventions/incubating';
import { tracer } from '../tracing.js';

const requestHeaders: TextMapGetter<Headers> = {
  keys: (headers) => [...headers.keys()],
  get: (headers, key) => headers.get(key) ?? undefined,
};

/**
 * Codes that say the server failed rather than answered (OpenTelemetry's gRPC conventions): a
 * refusal (sold out, rate limited, bad input) is an answer, and leaves the span's status unset.
 */
const serverFaults: ReadonlySet<Code> = new Set([
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Unimplemented,
  Code.Internal,
  Code.Unavailable,
  Code.DataLoss,
]);

/** A code as gRPC names it: `FAILED_PRECONDITION`. */
const codeName = (code: Code) =>
  Code[code]
    .replace(/(?<=[a-z])(?=[A-Z])/g, '_')
    .toUpperCase()
    .replace('CANCELED', 'CANCELLED');

/** The interceptor; the gate adds it, outermost, only when tracing is on. */
export function tracingInterceptor(): Interceptor {
  return (next) => async (req) => {
    if (req.stream) return next(req);
    const parent = propagation.extract(ROOT_CONTEXT, req.header, requestHeaders);
    const grpc = req.header.get('content-type')?.startsWith('application/grpc') ?? false;
    const method = `${req.service.typeName}/${req.method.name}`;
    return tracer.startActiveSpan(
      method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR_RPC_SYSTEM_NAME]: grpc
            ? RPC_SYSTEM_NAME_VALUE_GRPC
            : RPC_SYSTEM_NAME_VALUE_CONNECTRPC,
          [ATTR_RPC_METHOD]: method,
        },
      },
      parent,
      async (span) => {
        try {
          const res = await next(req);
          span.setAttribute(ATTR_RPC_STATUS_CODE, 'OK');
          return res;
        } catch (error) {
          const wire = ConnectError.from(error);
          span.setAttribute(ATTR_RPC_STATUS_CODE, codeName(wire.code));
          if (serverFaults.has(wire.code))
            span.setStatus({ code: SpanStatusCode.ERROR, message: wire.rawMessage });
          throw error;
        } finally {
          span.end();
        }
      },
    );
  };
}
