/**
 * The AdminService's guard: every call needs `authorization: Bearer <token>` with the
 * configured token, compared in constant time. With no token configured, every call is refused.
 */
import type { Interceptor } from '@connectrpc/connect';
import { createHash, timingSafeEqual } from 'node:crypto';
import { AdminService } from '../../gen/fluxgate/v1/admin_pb.js';
import { Refusal } from '../domain/refusal.js';

// Hashing first gives equal-length inputs, so timingSafeEqual reveals nothing about the length.
const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * An interceptor refusing AdminService calls without the bearer token, before any handler
 * runs; other services' calls pass. It goes in the server's one interceptor list (a service's
 * own `interceptors` option would replace that list for the service, not add to it).
 */
export function createAdminAuth(token: string): Interceptor {
  const expected = digest(`Bearer ${token}`);
  // Not async: every RPC passes here, and the calls it lets through need no extra promise.
  return (next) => (req) => {
    if (req.service.typeName !== AdminService.typeName) return next(req);
    const given = req.header.get('authorization') ?? '';
    if (token === '' || !timingSafeEqual(digest(given), expected)) {
      throw new Refusal(
        'UNAUTHENTICATED',
        'admin calls need the header "authorization: Bearer <admin token>"',
      );
    }
    return next(req);
  };
}
