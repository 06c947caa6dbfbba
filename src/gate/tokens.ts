/**
 * Named bearer tokens (admin and service tokens): parsed from config, read from the
 * `authorization` header, and matched in constant time. Only a token's name is ever logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** A secret and the name it is logged under. */
export interface NamedToken {
  readonly name: string;
  readonly token: string;
}

/** Parses `name:token` entries, as config validated them (the name holds no colon). */
export function parseNamedTokens(entries: readonly string[]): NamedToken[] {
  return entries.map((entry) => {
    const colon = entry.indexOf(':');
    return { name: entry.slice(0, colon), token: entry.slice(colon + 1) };
  });
}

/** The credential of an `authorization: Bearer <credential>` header, or undefined. */
export function bearerOf(headers: Headers): string | undefined {
  // The scheme is case-insensitive (RFC 7235).
  const credential = /^bearer (.+)$/i.exec(headers.get('authorization') ?? '')?.[1]?.trim();
  return credential === '' ? undefined : credential;
}

// Hashing first gives equal-length inputs, so timingSafeEqual reveals nothing about the length.
const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * A matcher answering the name of the configured token equal to a credential, or undefined.
 * Each comparison takes constant time, and every token is compared, so the time taken says
 * neither how much of a token was right nor which one matched.
 */
export function createTokenMatcher(
  tokens: readonly NamedToken[],
): (credential: string | undefined) => string | undefined {
  const expected = tokens.map(({ name, token }) => ({ name, digest: digest(token) }));
  return (credential) => {
    if (credential === undefined) return undefined;
    const given = digest(credential);
    let found: string | undefined;
    for (const { name, digest: wanted } of expected)
      if (timingSafeEqual(given, wanted)) found ??= name;
    return found;
  };
}
