/** The request id of a call, passed from Fastify (which reads or creates it) to the handlers. */
import { createContextKey } from '@connectrpc/connect';

/** Context key holding the Fastify request id. */
export const requestIdKey = createContextKey<string>('', { description: 'request id' });
