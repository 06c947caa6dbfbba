/**
 * Server reflection, through an in-memory router: a client that knows nothing but what
 * reflection serves can decode every detail the error mapping can put in a refusal, in both
 * reflection versions.
 */
import { create, createFileRegistry, fromBinary, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { createClient, createRouterTransport } from '@connectrpc/connect';
import { describe, expect, test } from 'vitest';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { Health } from '../../gen/grpc/health/v1/health_pb.js';
import * as v1 from '../../gen/grpc/reflection/v1/reflection_pb.js';
import * as v1alpha from '../../gen/grpc/reflection/v1alpha/reflection_pb.js';
import { Refusal, refusalReasons, type RefusalFacts } from '../../src/domain/refusal.js';
import { refusalToConnectError } from '../../src/gate/error-mapping.js';
import { addReflection } from '../../src/gate/reflection.js';

const transport = createRouterTransport((router) => {
  addReflection(router, [OrderGateService, Health]);
});

/** The request's one-of, the same in both versions. */
type Question = v1.ServerReflectionRequest['messageRequest'];

/** Asks one reflection question in the given version; returns the files or the error. */
async function ask(
  version: typeof v1 | typeof v1alpha,
  question: Question,
): Promise<FileDescriptorProto[] | { errorCode: number }> {
  const client = createClient(version.ServerReflection, transport);
  async function* one() {
    yield create(v1.ServerReflectionRequestSchema, { messageRequest: question });
  }
  for await (const response of client.serverReflectionInfo(one())) {
    const answer = response.messageResponse;
    if (answer.case === 'fileDescriptorResponse') {
      return answer.value.fileDescriptorProto.map((bytes) =>
        fromBinary(FileDescriptorProtoSchema, bytes),
      );
    }
    if (answer.case === 'errorResponse') return { errorCode: answer.value.errorCode };
    throw new Error(`unexpected answer ${String(answer.case)}`);
  }
  throw new Error('no answer');
}

/** Every fact set, so that every detail the mapping can attach is attached somewhere. */
const allFacts: Required<RefusalFacts> = {
  retryAfterMs: 1500,
  remaining: 1,
  unitsLeft: 2,
  startsAtMs: 0,
  field: 'sku',
  dependency: 'redis',
  ticket: {
    sku: 'S',
    customerId: 'c',
    number: 7,
    issuedAtMs: 0,
    drawn: false,
    token: 'k.body.signature',
  },
  problem: 'signature',
  calledUntilMs: 0,
  lottery: true,
};

/** Every detail the error mapping can put in a refusal, as its type and encoded bytes. */
function everyDetail(): { typeName: string; bytes: Uint8Array }[] {
  const seen = new Map<string, Uint8Array>();
  for (const reason of refusalReasons) {
    for (const facts of [{}, allFacts]) {
      const error = refusalToConnectError(new Refusal(reason, 'refused', facts), 0);
      for (const detail of error.details) {
        if (!('desc' in detail)) throw new Error('the mapping built a detail without a schema');
        const { desc, value } = detail;
        seen.set(desc.typeName, toBinary(desc, create(desc, value)));
      }
    }
  }
  return [...seen].map(([typeName, bytes]) => ({ typeName, bytes }));
}

describe.each([
  ['v1', v1],
  ['v1alpha', v1alpha],
])('reflection %s', (_name, version) => {
  test('serves the file of every message the error mapping can put in details', async () => {
    const details = everyDetail();
    expect(details.map((d) => d.typeName)).toEqual(
      expect.arrayContaining([
        'google.rpc.ErrorInfo',
        'google.rpc.RetryInfo',
        'fluxgate.v1.WaitingRoomTicket',
      ]),
    );
    for (const { typeName, bytes } of details) {
      const files = await ask(version, { case: 'fileContainingSymbol', value: typeName });
      if (!Array.isArray(files)) throw new Error(`${typeName}: error ${String(files.errorCode)}`);
      // Only what reflection answered: enough to decode the detail, as grpcurl does.
      const byName = new Map(files.map((file) => [file.name, file]));
      const [containing] = files;
      if (containing === undefined) throw new Error(`${typeName}: no file`);
      const registry = createFileRegistry(containing, (name) => byName.get(name));
      const schema = registry.getMessage(typeName);
      expect(schema, typeName).toBeDefined();
      if (schema !== undefined) expect(toBinary(schema, fromBinary(schema, bytes))).toEqual(bytes);
    }
  });

  test('serves the detail files by name, with their imports', async () => {
    const errorDetails = await ask(version, {
      case: 'fileByFilename',
      value: 'google/rpc/error_details.proto',
    });
    expect(Array.isArray(errorDetails) && errorDetails.map((f) => f.name)).toEqual([
      'google/rpc/error_details.proto',
      'google/protobuf/duration.proto',
    ]);
    const errors = await ask(version, {
      case: 'fileByFilename',
      value: 'fluxgate/v1/errors.proto',
    });
    expect(Array.isArray(errors) && errors.map((f) => f.name)).toEqual([
      'fluxgate/v1/errors.proto',
      'google/protobuf/timestamp.proto',
    ]);
  });

  test('still answers NOT_FOUND for an unknown symbol', async () => {
    expect(await ask(version, { case: 'fileContainingSymbol', value: 'no.such.Message' })).toEqual({
      errorCode: 5,
    });
  });
});
