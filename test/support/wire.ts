/** What a test reads off the wire: a refusal's reason, and an order client over Connect binary. */
import http from 'node:http';
import { ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { ErrorInfoSchema } from '../../gen/google/rpc/error_details_pb.js';

/** The refusal's ErrorInfo reason, or undefined when `error` is not a refusal. */
export function reasonOf(error: unknown): string | undefined {
  return error instanceof ConnectError ? error.findDetails(ErrorInfoSchema)[0]?.reason : undefined;
}

/** An OrderGateService client over Connect binary on HTTP/1.1, sharing `agent`'s connections. */
export function orderClient(url: string, agent: http.Agent): Client<typeof OrderGateService> {
  return createClient(
    OrderGateService,
    createConnectTransport({
      baseUrl: url,
      httpVersion: '1.1',
      useBinaryFormat: true,
      nodeOptions: { agent },
    }),
  );
}

/** The frames of an enveloped body (gRPC, gRPC-Web, Connect streaming): flags and data each. */
export function envelopes(body: Buffer): { flags: number; data: Buffer }[] {
  const out = [];
  for (let at = 0; at + 5 <= body.length;) {
    const length = body.readUInt32BE(at + 1);
    out.push({ flags: body.readUInt8(at), data: body.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return out;
}

/** One frame of an enveloped body: the flags byte, the message's big-endian length, the message. */
export function envelope(message: Uint8Array, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** The frames of a whole body read from its chunks (a handler's response body). */
export async function envelopesOfBody(
  body: AsyncIterable<Uint8Array> | undefined,
): Promise<{ flags: number; data: Buffer }[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body ?? []) chunks.push(chunk);
  return envelopes(Buffer.concat(chunks));
}
