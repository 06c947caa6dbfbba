/**
 * The AdminService's guard: every call needs `authorization: Bearer <token>` with the
 * configured token, compared in constant time. With no token configured, every call is refused.
 */
import type { Interceptor } from '@connectrpc/connect';
import { createHash, timingSafeEqual } from 'node:crypto';
import { Refusal } from '../domain/refusal.js';
import { refusalToConnectError } from './error-mapping.js';

// Hashing first gives equal-length inputs, so timingSafeEqual reveals nothing about the length.
const digest = (text: string) => createHash('sha256').update(text).digest();

/** An interceptor refusing calls without the bearer token, before any handler runs. */
export function createAdminAuth(token: string): Interceptor {
  const expected = digest(`Bearer ${token}`);
  return (next) => async (req) => {
    const given = req.header.get('authorization') ?? '';
    if (token === '' || !timingSafeEqual(digest(given), expected)) {
      throw refusalToConnectError(
        new Refusal(
          'UNAUTHENTICATED',
          'admin calls need the header "authorization: Bearer <admin token>"',
        ),
        '',
        Date.now(),
      );
    }
    return next(req);
  };
}
