/**
 * clampDeadlineHeaders lowers a deadline above the maximum to the maximum, in both header forms,
 * and leaves everything else as it came (malformed values are the protocol layer's to refuse).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, test } from 'vitest';
import { clampDeadlineHeaders } from '../../src/gate/build-server.js';

const maxMs = 30_000;
const clamped = (headers: IncomingHttpHeaders) => {
  const copy = { ...headers };
  clampDeadlineHeaders(copy, maxMs);
  return copy;
};

describe('grpc-timeout', () => {
  test.each([
    ['30100m', '30000m'], // grpcio's timeout=30
    ['31S', '30000m'], // grpcurl -max-time 31
    ['1M', '30000m'],
    ['99999999H', '30000m'],
    ['30000001u', '30000m'],
    ['300000000n', '300000000n'], // 300 ms
    ['30000m', '30000m'],
    ['30S', '30S'],
    ['0n', '0n'],
    ['5S', '5S'],
  ])('%s becomes %s', (value, expected) => {
    expect(clamped({ 'grpc-timeout': value })['grpc-timeout']).toBe(expected);
  });

  test.each(['', '1.5S', '123456789S', '10s', '-1S', '10 S'])(
    'malformed %j is left for the protocol layer',
    (value) => {
      expect(clamped({ 'grpc-timeout': value })['grpc-timeout']).toBe(value);
    },
  );
});

describe('connect-timeout-ms', () => {
  test.each([
    ['60000', '30000'],
    ['9999999999', '30000'],
    ['30001', '30000'],
    ['30000', '30000'],
    ['1', '1'],
    ['0', '0'],
  ])('%s becomes %s', (value, expected) => {
    expect(clamped({ 'connect-timeout-ms': value })['connect-timeout-ms']).toBe(expected);
  });

  test.each(['', '1e6', '12345678901', '-5', '60000 '])(
    'malformed %j is left for the protocol layer',
    (value) => {
      expect(clamped({ 'connect-timeout-ms': value })['connect-timeout-ms']).toBe(value);
    },
  );
});

test('no deadline stays no deadline', () => {
  expect(clamped({ 'content-type': 'application/grpc' })).toEqual({
    'content-type': 'application/grpc',
  });
});
