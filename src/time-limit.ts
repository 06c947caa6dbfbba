/** Waiting for work that may never settle (a network call, a client's disconnect) with a bound. */

/** The work did not settle within its time limit (it may still settle later). */
export class TimeLimitError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${String(ms)} ms`);
    this.name = 'TimeLimitError';
  }
}

/** `work`'s outcome, or a {@link TimeLimitError} after `ms`. The work itself is not cancelled. */
export async function withTimeLimit<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new TimeLimitError(what, ms));
    }, ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
