import { describe, expect, test } from 'vitest';
import { bearerOf, createTokenMatcher, parseNamedTokens } from '../../src/gate/tokens.js';

describe('named tokens', () => {
  test('entries are split at the first colon: the token may hold colons', () => {
    expect(parseNamedTokens(['ops:abc:def', 'ci:x'])).toEqual([
      { name: 'ops', token: 'abc:def' },
      { name: 'ci', token: 'x' },
    ]);
  });

  test('the bearer credential is read whatever the case of the scheme; other schemes have none', () => {
    const of = (authorization?: string) =>
      bearerOf(new Headers(authorization === undefined ? {} : { authorization }));
    expect(of('Bearer abc')).toBe('abc');
    expect(of('bearer abc ')).toBe('abc');
    expect(of('Basic YWxpY2U6eA==')).toBeUndefined();
    expect(of('Bearer ')).toBeUndefined();
    expect(of()).toBeUndefined();
  });

  test('the matcher names the token given, and nothing for a wrong, shorter, longer or missing one', () => {
    const nameOf = createTokenMatcher(
      parseNamedTokens(['a:token-a-0123456789', 'b:token-b-0123456789']),
    );
    expect(nameOf('token-a-0123456789')).toBe('a');
    expect(nameOf('token-b-0123456789')).toBe('b');
    for (const wrong of ['token-c-0123456789', 'token-a', 'token-a-0123456789x', '', undefined])
      expect(nameOf(wrong)).toBeUndefined();
    expect(createTokenMatcher([])('anything')).toBeUndefined();
  });
});
