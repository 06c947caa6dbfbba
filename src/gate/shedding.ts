/**
 * Refusing a call before the Connect layer reads it (overload shedding, src/admission/overload.ts).
 * Both paths into the gate ask here once a call's headers are in: Fastify's onRequest hook and
 * the direct gRPC path. A shed call gets its protocol's own error answer, written with
 * connect-es's encoders (the Connect error JSON; gRPC's status headers, as a trailers-only
 * answer for gRPC and gRPC-Web), without its body being read or a handler being run.
 */
import type { DescMethod } from '@bufbuild/protobuf';
import type { ConnectError } from '@connectrpc/connect';
import {
  codeToHttpStatus,
  contentTypeUnaryRegExp,
  errorToJsonBytes,
} from '@connectrpc/connect/protocol-connect';
import {
  contentTypeRegExp as grpcContentType,
  setTrailerStatus,
} from '@connectrpc/connect/protocol-grpc';
import { contentTypeRegExp as grpcWebContentType } from '@connectrpc/connect/protocol-grpc-web';

/** Which calls may be shed, and the decision for each. */
export interface Shedding {
  /** Request paths (`/package.Service/Method`) whose calls may be shed. */
  readonly paths: ReadonlySet<string>;
  /**
   * The answer to refuse a call with now, in the protocol its content type names, or undefined
   * to let it in.
   */
  readonly refusal: (contentType: string | undefined) => ShedAnswer | undefined;
}

/**
 * The answer to refuse a call to `path` with now, or undefined to let it in: every path into
 * the gate (Fastify's hook and both direct paths) decides through here.
 */
export function refusalFor(
  shedding: Shedding | undefined,
  path: string,
  contentType: string | undefined,
): ShedAnswer | undefined {
  return shedding?.paths.has(path) === true ? shedding.refusal(contentType) : undefined;
}

/** The request path of `method`, as the routers serve it. */
export function requestPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** A shed call's answer. */
export interface ShedAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body?: Uint8Array;
}

/** Content types remembered by {@link cachedShedAnswers}: the usual few, not whatever is sent. */
const maxCachedContentTypes = 16;

/**
 * The answers to calls refused with the errors `error` makes, each built once per content type
 * in `variants` versions (each error its own jittered retry delay) and handed out in turn: a
 * flood of refusals costs no encoding.
 */
export function cachedShedAnswers(
  error: () => ConnectError,
  variants = 8,
): (contentType: string | undefined) => ShedAnswer | undefined {
  const cache = new Map<string, (ShedAnswer | undefined)[]>();
  let turn = 0;
  return (contentType) => {
    if (contentType === undefined) return undefined;
    let answers = cache.get(contentType);
    if (answers === undefined) {
      answers = Array.from({ length: variants }, () => shedAnswer(contentType, error()));
      if (cache.size < maxCachedContentTypes) cache.set(contentType, answers);
    }
    turn = (turn + 1) % variants;
    return answers[turn];
  };
}

/**
 * The answer to a call refused with `error`, in the protocol its content type names; undefined
 * when no protocol claims it (the Connect layer then refuses the call as it would anyway).
 */
export function shedAnswer(
  contentType: string | undefined,
  error: ConnectError,
): ShedAnswer | undefined {
  if (contentType === undefined) return undefined;
  if (grpcContentType.test(contentType) || grpcWebContentType.test(contentType)) {
    // Trailers-only: the status travels in the headers of an answer without a body.
    const headers: Record<string, string> = { 'content-type': contentType };
    setTrailerStatus(new Headers(), error).forEach((value, name) => {
      headers[name] = value;
    });
    return { status: 200, headers };
  }
  if (contentTypeUnaryRegExp.test(contentType)) {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    error.metadata.forEach((value, name) => {
      headers[name] = value;
    });
    return { status: codeToHttpStatus(error.code), headers, body: errorToJsonBytes(error, {}) };
  }
  return undefined;
}
