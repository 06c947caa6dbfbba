import { durationMs, timestampMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, test } from 'vitest';
import {
  RefusalReason as ProtoReason,
  WaitingRoomTicketSchema,
} from '../../gen/fluxgate/v1/errors_pb.js';
import { ErrorInfoSchema, RetryInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import { Refusal, refusalReasons } from '../../src/domain/refusal.js';
import {
  codeOfReason,
  defaultRetryAfterMs,
  refusalToConnectError,
  toConnectError,
} from '../../src/gate/error-mapping.js';

describe('error mapping', () => {
  test('the domain reasons are exactly the contract enum values still sent', () => {
    const retired = ['UNSPECIFIED', 'IDEMPOTENCY_KEY_IN_FLIGHT'];
    const protoNames = Object.keys(ProtoReason).filter(
      (k) => Number.isNaN(Number(k)) && !retired.includes(k),
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
      DEPENDENCY_UNAVAILABLE: Code.Unavailable,
      OUTCOME_UNKNOWN: Code.Unavailable,
      SALE_STATE_RELOADING: Code.Unavailable,
      UNAUTHENTICATED: Code.Unauthenticated,
      CUSTOMER_MISMATCH: Code.PermissionDenied,
      GATE_OVERLOADED: Code.Unavailable,
    });
  });

  test('a rate limit carries ErrorInfo, RetryInfo, its waiting-room ticket and retry-after', () => {
    const ticket = {
      sku: 'S',
      customerId: 'c',
      number: 42,
      issuedAtMs: 5,
      drawn: false,
      token: 'k.b.signatur',
    };
    const error = refusalToConnectError(
      new Refusal('RATE_LIMITED', 'slow down', { retryAfterMs: 1500, ticket }),
      0,
    );
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.metadata.get('retry-after')).toBe('2');
    expect(error.findDetails(ErrorInfoSchema)).toMatchObject([
      { reason: 'RATE_LIMITED', domain: 'fluxgate.dev' },
    ]);
    // The delay is the script's, stretched by up to a fifth (jitter); the ticket agrees with it.
    const [retry] = error.findDetails(RetryInfoSchema);
    const delayMs = durationMs(retry!.retryDelay!);
    expect(delayMs).toBeGreaterThanOrEqual(1500);
    expect(delayMs).toBeLessThanOrEqual(1800);
    const [detail] = error.findDetails(WaitingRoomTicketSchema);
    expect(detail).toMatchObject({ sku: 'S', token: 'k.b.signatur', number: 42n });
    expect(detail?.ticketId).toBe('42-signatur');
    expect(timestampMs(detail!.issuedAt!)).toBe(5);
    expect(timestampMs(detail!.retryAt!)).toBe(delayMs);
  });

  test('a ticket refusal says what is wrong with the ticket', () => {
    const forged = refusalToConnectError(
      new Refusal('TICKET_INVALID', 'forged', { field: 'queue_ticket', problem: 'signature' }),
      0,
    );
    expect(forged.code).toBe(Code.InvalidArgument);
    expect(forged.findDetails(ErrorInfoSchema)).toMatchObject([
      { reason: 'TICKET_INVALID', metadata: { field: 'queue_ticket', problem: 'signature' } },
    ]);
    const expired = refusalToConnectError(
      new Refusal('TICKET_EXPIRED', 'too late', { calledUntilMs: 1000 }),
      0,
    );
    expect(expired.code).toBe(Code.FailedPrecondition);
    expect(expired.findDetails(ErrorInfoSchema)[0]?.metadata).toEqual({
      called_until: '1970-01-01T00:00:01.000Z',
    });
    expect(refusalToConnectError(new Refusal('TICKET_NOT_YOURS', 'not yours'), 0).code).toBe(
      Code.PermissionDenied,
    );
  });

  test('every answer that invites a retry carries RetryInfo and retry-after; only a refusal that holds a ticket carries one', () => {
    const retryReasons = refusalReasons.filter((reason) =>
      [Code.Unavailable, Code.ResourceExhausted, Code.Aborted].includes(codeOfReason[reason]),
    );
    expect(retryReasons.sort()).toEqual(
      [
        'DEPENDENCY_UNAVAILABLE',
        'GATE_OVERLOADED',
        'OUTCOME_UNKNOWN',
        'RATE_LIMITED',
        'SALE_STATE_RELOADING',
      ].sort(),
    );
    for (const reason of retryReasons) {
      const error = refusalToConnectError(new Refusal(reason, 'later'), 0);
      const [retry] = error.findDetails(RetryInfoSchema);
      // No delay known: the default, with jitter.
      expect(durationMs(retry!.retryDelay!)).toBeGreaterThanOrEqual(defaultRetryAfterMs);
      expect(durationMs(retry!.retryDelay!)).toBeLessThanOrEqual(defaultRetryAfterMs * 1.2);
      expect(error.metadata.get('retry-after')).toMatch(/^[12]$/);
      expect(error.findDetails(WaitingRoomTicketSchema)).toHaveLength(0);
    }
    for (const reason of refusalReasons.filter((r) => !retryReasons.includes(r))) {
      const error = refusalToConnectError(new Refusal(reason, 'no'), 0);
      expect(error.findDetails(RetryInfoSchema)).toEqual([]);
      expect(error.metadata.get('retry-after')).toBeNull();
    }
  });

  test('a dependency answer names the dependency and keeps the delay the gate knows', () => {
    const error = refusalToConnectError(
      new Refusal('DEPENDENCY_UNAVAILABLE', 'down', { dependency: 'redis', retryAfterMs: 300 }),
      0,
    );
    expect(error.findDetails(ErrorInfoSchema)).toMatchObject([
      { reason: 'DEPENDENCY_UNAVAILABLE', metadata: { dependency: 'redis' } },
    ]);
    const delayMs = durationMs(error.findDetails(RetryInfoSchema)[0]!.retryDelay!);
    expect(delayMs).toBeGreaterThanOrEqual(300);
    expect(delayMs).toBeLessThanOrEqual(360);
  });

  test('a server error that invites a retry (draining) gets the default delay; others none', () => {
    const draining = toConnectError(new ConnectError('draining', Code.Unavailable), 0);
    expect(draining.findDetails(RetryInfoSchema)).toHaveLength(1);
    expect(draining.metadata.get('retry-after')).toBe('2');
    const bad = toConnectError(new ConnectError('bad', Code.InvalidArgument), 0);
    expect(bad.findDetails(RetryInfoSchema)).toEqual([]);
    // The protocol layer's resource_exhausted is a message too large: retrying cannot help.
    const large = toConnectError(new ConnectError('too large', Code.ResourceExhausted), 0);
    expect(large.findDetails(RetryInfoSchema)).toEqual([]);
  });

  test('fewer units left than asked: failed_precondition with the units left in ErrorInfo', () => {
    const error = refusalToConnectError(
      new Refusal('INSUFFICIENT_STOCK', 'only 2 units left', { unitsLeft: 2 }),
      0,
    );
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.findDetails(ErrorInfoSchema)).toMatchObject([
      { reason: 'INSUFFICIENT_STOCK', metadata: { units_left: '2' } },
    ]);
  });

  test('a replayed refusal is marked with idempotent-replayed', () => {
    const error = refusalToConnectError(new Refusal('SOLD_OUT', 'gone', {}, { replayed: true }), 0);
    expect(error.metadata.get('idempotent-replayed')).toBe('true');
  });

  test('a refusal with a fixed answer is mapped once; one with facts, a delay or a replay each time', () => {
    const soldOut = new Refusal('SOLD_OUT', 'no units left');
    const first = refusalToConnectError(soldOut, 0);
    expect(refusalToConnectError(soldOut, 0)).toBe(first);
    expect(first.code).toBe(Code.FailedPrecondition);
    expect(first.findDetails(ErrorInfoSchema)).toMatchObject([{ reason: 'SOLD_OUT' }]);
    for (const refusal of [
      new Refusal('INSUFFICIENT_STOCK', 'fewer left', { unitsLeft: 2 }),
      new Refusal('RATE_LIMITED', 'wait', { retryAfterMs: 100 }),
      new Refusal('SOLD_OUT', 'gone', {}, { replayed: true }),
    ]) {
      expect(refusalToConnectError(refusal, 0)).not.toBe(refusalToConnectError(refusal, 0));
    }
  });

  test('a refusal and its wire error carry no stack trace; a fault behind them keeps its own', () => {
    const fault = new Error('connection reset');
    const refusal = new Refusal('DEPENDENCY_UNAVAILABLE', 'redis is down', {}, { cause: fault });
    const error = refusalToConnectError(refusal, 0);
    expect(refusal.stack).toBe('Refusal: redis is down');
    expect(error.stack).toBe('ConnectError: [unavailable] redis is down');
    expect(error.cause).toBe(refusal);
    expect(refusal.cause).toBe(fault);
    expect(fault.stack).toMatch(/\n +at /);
    // Other errors still get theirs.
    expect(new Error('after').stack).toMatch(/\n +at /);
  });
});
