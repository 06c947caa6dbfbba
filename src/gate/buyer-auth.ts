/**
 * Who may place an order for whom. In `jwt` mode every PlaceOrder call carries
 * `authorization: Bearer <credential>`, checked before the handler runs:
 * - a service token (FLUXGATE_SERVICE_TOKENS): a backend acting for customers, which names any
 *   customer in the body;
 * - otherwise a buyer token: a JWT from the shop's identity provider, verified against its JWKS.
 *   Its subject is the customer: an empty body customer_id is filled from it, a different one is
 *   refused CUSTOMER_MISMATCH.
 * Anything else is refused UNAUTHENTICATED. In `open` mode (local runs, tests) every call passes
 * and the body's customer_id is trusted; the gate says so once at start-up. GetOrder and
 * WatchOrder are not guarded: they take an order id nobody can guess.
 */
import { Code, ConnectError, createContextKey, type Interceptor } from '@connectrpc/connect';
import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import type { Logger } from 'pino';
import { OrderGateService, type PlaceOrderRequest } from '../../gen/fluxgate/v1/order_gate_pb.js';
import type { Config } from '../config.js';
import { Refusal } from '../domain/refusal.js';
import { bearerOf, createTokenMatcher, parseNamedTokens } from './tokens.js';

/** Who placed a PlaceOrder call, as the interceptor established it. */
export type Caller =
  | { readonly kind: 'open' }
  | { readonly kind: 'service'; readonly name: string }
  | { readonly kind: 'buyer'; readonly customerId: string };

/**
 * Context key: the caller of a PlaceOrder call. `open` when buyer authentication is off (the
 * interceptor does not run), and then the body's customer_id is taken as sent.
 */
export const callerKey = createContextKey<Caller>({ kind: 'open' }, { description: 'caller' });

/**
 * Algorithms a buyer token may be signed with: asymmetric only, so that neither an unsigned
 * token (`none`) nor one "signed" with HMAC keyed by a public key can pass.
 */
const algorithms = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

/** The identity provider's keys: fetched and cached from the URL, or read once from the file. */
function keySetOf(config: Pick<Config, 'jwksUrl' | 'jwksFile'>): JWTVerifyGetKey {
  if (config.jwksUrl !== '') return createRemoteJWKSet(new URL(config.jwksUrl));
  try {
    // createLocalJWKSet checks the shape: anything but a key set throws.
    return createLocalJWKSet(JSON.parse(readFileSync(config.jwksFile, 'utf8')) as JSONWebKeySet);
  } catch (error) {
    throw new Error(`FLUXGATE_JWKS_FILE ${config.jwksFile}: not a readable JWKS`, { cause: error });
  }
}

/**
 * True when verification failed because the keys could not be had (the JWKS URL timed out,
 * answered other than 200 or with no key set, or the network failed): not the buyer's fault.
 */
function keysUnavailable(error: unknown): boolean {
  return (
    !(error instanceof errors.JOSEError) ||
    error instanceof errors.JWKSTimeout ||
    error instanceof errors.JWKSInvalid ||
    error.code === 'ERR_JOSE_GENERIC'
  );
}

/**
 * Creates the PlaceOrder guard for `config.buyerAuth`. In `open` mode it logs one warning and
 * lets every call through untouched.
 */
export function createBuyerAuth(
  config: Pick<
    Config,
    | 'buyerAuth'
    | 'jwksUrl'
    | 'jwksFile'
    | 'jwtIssuer'
    | 'jwtAudience'
    | 'jwtClockSkewSeconds'
    | 'serviceTokens'
  >,
  logger: Pick<Logger, 'warn'>,
): Interceptor {
  if (config.buyerAuth === 'open') {
    logger.warn(
      'FLUXGATE_BUYER_AUTH=open: buyers are NOT authenticated; PlaceOrder trusts the customer_id it is sent (for local runs and tests only)',
    );
    return (next) => next;
  }
  const keys = keySetOf(config);
  const serviceNamed = createTokenMatcher(parseNamedTokens(config.serviceTokens));
  const options: JWTVerifyOptions = {
    algorithms,
    clockTolerance: config.jwtClockSkewSeconds,
    requiredClaims: ['sub', 'exp'],
    issuer: config.jwtIssuer === '' ? undefined : config.jwtIssuer,
    audience: config.jwtAudience === '' ? undefined : config.jwtAudience,
  };
  const unauthenticated = (message: string, cause?: unknown) =>
    new Refusal('UNAUTHENTICATED', message, {}, { cause });

  async function callerOf(credential: string | undefined): Promise<Caller> {
    if (credential === undefined)
      throw unauthenticated('PlaceOrder needs the header "authorization: Bearer <buyer token>"');
    const service = serviceNamed(credential);
    if (service !== undefined) return { kind: 'service', name: service };
    let subject: string | undefined;
    try {
      subject = (await jwtVerify(credential, keys, options)).payload.sub;
    } catch (error) {
      if (keysUnavailable(error)) {
        logger.warn({ err: error }, 'buyer tokens cannot be verified: JWKS unavailable');
        throw new ConnectError(
          'buyer tokens cannot be verified right now; retry',
          Code.Unavailable,
          undefined,
          undefined,
          error,
        );
      }
      throw unauthenticated(
        error instanceof errors.JWTExpired ? 'buyer token expired' : 'buyer token is not valid',
        error,
      );
    }
    if (subject === undefined || subject === '')
      throw unauthenticated('buyer token names no subject');
    return { kind: 'buyer', customerId: subject };
  }

  const placeOrder = OrderGateService.method.placeOrder;
  // Only PlaceOrder pays for a promise; every other call passes straight through.
  return (next) => (req) => {
    if (req.method !== placeOrder || req.stream) return next(req);
    return callerOf(bearerOf(req.header)).then((caller) => {
      const claimed = (req.message as PlaceOrderRequest).customerId;
      if (caller.kind === 'buyer' && claimed !== '' && claimed !== caller.customerId) {
        throw new Refusal(
          'CUSTOMER_MISMATCH',
          "customer_id differs from the buyer token's subject (leave it empty to order as the subject)",
        );
      }
      req.contextValues.set(callerKey, caller);
      return next(req);
    });
  };
}
