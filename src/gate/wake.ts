/** Waiting inside a server stream: until woken, a poll interval passes, or the call ends. */

/** A wake-up signal a stream can wait on; `wake` may be called any number of times. */
export interface Wake {
  wake(): void;
  /** Resolves on the next wake (or one that came since the last wait), after `ms`, or on abort. */
  wait(ms: number, signal: AbortSignal): Promise<void>;
}

/** Creates a wake-up signal. */
export function createWake(): Wake {
  let pending = false;
  let resolveWait: (() => void) | undefined;
  return {
    wake() {
      pending = true;
      resolveWait?.();
    },
    async wait(ms, signal) {
      if (pending || signal.aborted) {
        pending = false;
        return;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolveWait = undefined;
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal.addEventListener('abort', done, { once: true });
        resolveWait = done;
      });
      pending = false;
    },
  };
}
