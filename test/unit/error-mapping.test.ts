import { Code } from '@connectrpc/connect';
import { describe, expect, test } from 'vitest';
import {
  RefusalReason as ProtoReason,
  WaitingRoomTicketSchema,
} from '../../gen/fluxgate/v1/errors_pb.js';
import { ErrorInfoSchema, RetryInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import { Refusal, refusalReasons } from '../../src/domain/refusal.js';
import { codeOfReason, refusalToConnectError } from '../../src/gate/error-mapping.js';

describe('error mapping', () => {
  test('the domain reasons are exactly the contract enum values', () => {
    const protoNames = Object.keys(ProtoReason).filter(
      (k) => Number.isNaN(Number(k)) && k !== 'UNSPECIFIED',
    );
    expect([...refusalReasons].sort()).toEqual(protoNames.sort());
  });

  test('the refusal table (docs/refusals.md): each situation has its code', () => {
    expect(codeOfReason).toMatchObject({
      RATE_LIMITED: Code.ResourceExhausted,
      SOLD_OUT: Code.FailedPrecondition,
      INSUFFICIENT_STOCK: Code.FailedPrecondition,
      SALE_NOT_FOUND: Code.NotFound,
      INVALID_ARGUMENT: Code.InvalidArgument,
      IDEMPOTENCY_KEY_REUSED: Code.InvalidArgument,
      IDEMPOTENCY_KEY_IN_FLIGHT: Code.Aborted,
      DEPENDENCY_UNAVAILABLE: Code.Unavailable,
      UNAUTHENTICATED: Code.Unauthenticated,
    });
  });

  test('a rate limit carries ErrorInfo, RetryInfo, a waiting-room ticket and retry-after', () => {
    const error = refusalToConnectError(
      new Refusal('RATE_LIMITED', 'slow down', { retryAfterMs: 1500 }),
      'S',
      0,
    );
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.metadata.get('retry-after')).toBe('2');
    expect(error.findDetails(ErrorInfoSchema)).toMatchObject([
      { reason: 'RATE_LIMITED', domain: 'fluxgate.dev' },
    ]);
    const [retry] = error.findDetails(RetryInfoSchema);
    expect([Number(retry?.retryDelay?.seconds), retry?.retryDelay?.nanos]).toEqual([
      1, 500_000_000,
    ]);
    const [ticket] = error.findDetails(WaitingRoomTicketSchema);
    expect(ticket?.sku).toBe('S');
    expect(Number(ticket?.retryAt?.seconds)).toBe(1);
  });

  test('fewer units left than asked: failed_precondition with the units left in ErrorInfo', () => {
    const error = refusalToConnectError(
      new Refusal('INSUFFICIENT_STOCK', 'only 2 units left', { unitsLeft: 2 }),
      'S',
      0,
    );
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.findDetails(ErrorInfoSchema)).toMatchObject([
      { reason: 'INSUFFICIENT_STOCK', metadata: { units_left: '2' } },
    ]);
  });

  test('a replayed refusal is marked with idempotent-replayed', () => {
    const error = refusalToConnectError(
      new Refusal('SOLD_OUT', 'gone', {}, { replayed: true }),
      'S',
      0,
    );
    expect(error.metadata.get('idempotent-replayed')).toBe('true');
  });
});
