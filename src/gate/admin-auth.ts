/**
 * The AdminService's guard: every call needs `authorization: Bearer <token>` with one of the
 * configured admin tokens, compared in constant time, and is logged with that token's name.
 * Several tokens may be valid at once, so one can be rotated without downtime. With no token
 * configured, every call is refused.
 */
import type { Interceptor } from '@connectrpc/connect';
import type { Logger } from 'pino';
import { AdminService } from '../../gen/fluxgate/v1/admin_pb.js';
import type { Config } from '../config.js';
import { Refusal } from '../domain/refusal.js';
import { requestIdKey } from './request-id.js';
import { bearerOf, createTokenMatcher, parseNamedTokens, type NamedToken } from './tokens.js';

/** The admin tokens of `config`: FLUXGATE_ADMIN_TOKEN (named `default`) and FLUXGATE_ADMIN_TOKENS. */
export function adminTokensOf(config: Pick<Config, 'adminToken' | 'adminTokens'>): NamedToken[] {
  const single = config.adminToken === '' ? [] : [{ name: 'default', token: config.adminToken }];
  return [...single, ...parseNamedTokens(config.adminTokens)];
}

/**
 * An interceptor refusing AdminService calls without an admin token, before any handler runs,
 * and logging each call it lets through (`admin action`, with the token's name and the RPC);
 * other services' calls pass. It goes in the server's one interceptor list (a service's own
 * `interceptors` option would replace that list for the service, not add to it).
 */
export function createAdminAuth(
  tokens: readonly NamedToken[],
  logger: Pick<Logger, 'info'>,
): Interceptor {
  const nameOf = createTokenMatcher(tokens);
  // Not async: every RPC passes here, and the calls it lets through need no extra promise.
  return (next) => (req) => {
    if (req.service.typeName !== AdminService.typeName) return next(req);
    const name = nameOf(bearerOf(req.header));
    if (name === undefined) {
      throw new Refusal(
        'UNAUTHENTICATED',
        'admin calls need the header "authorization: Bearer <admin token>"',
      );
    }
    logger.info(
      { reqId: req.contextValues.get(requestIdKey), admin: name, rpc: req.method.name },
      'admin action',
    );
    return next(req);
  };
}
