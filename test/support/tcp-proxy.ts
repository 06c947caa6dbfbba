/**
 * A small TCP fault proxy of our own (node:net), put between our processes and a server of the
 * stack so that a fault test can make the network slow, silent or hostile without touching the
 * server: `pass` forwards bytes as they come; `delay` holds every chunk, each way, for a number
 * of milliseconds; `blackhole` accepts connections and reads what arrives but forwards nothing,
 * either way, until the mode changes (as a partition does: what TCP would retransmit after the
 * heal is delivered then, in order); `reset` destroys every connection, open or new.
 *
 * It never calls vitest, so the compiled benchmark can import it.
 */
import net from 'node:net';

/** How the proxy treats traffic. */
export type ProxyMode =
  | { readonly kind: 'pass' }
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'blackhole' }
  | { readonly kind: 'reset' };

/** A running proxy. */
export interface TcpProxy {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /** The current mode. */
  readonly mode: ProxyMode;
  /** Changes the mode: open connections follow it at once, held bytes are released in order. */
  setMode(mode: ProxyMode): void;
  /** Connections accepted so far (a sign the clients really go through the proxy). */
  readonly accepted: number;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

/** One direction of one connection: chunks in order, each released when its time comes. */
interface Pipe {
  readonly queue: { data: Buffer; at: number }[];
  timer: NodeJS.Timeout | undefined;
}

/**
 * Listens on `listenPort` (0: any free port) and forwards to `target` on 127.0.0.1.
 */
export async function startTcpProxy(
  target: number,
  listenPort = 0,
  initial: ProxyMode = { kind: 'pass' },
): Promise<TcpProxy> {
  let mode = initial;
  let accepted = 0;
  const pumps = new Set<() => void>();
  const sockets = new Set<net.Socket>();

  const server = net.createServer((client) => {
    accepted++;
    if (mode.kind === 'reset') {
      client.resetAndDestroy();
      return;
    }
    // The upstream connection is opened at once; in a black hole nothing reaches it yet.
    const upstream = net.connect({ host: '127.0.0.1', port: target });
    sockets.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      pumps.delete(pumpBoth);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);

    const pipe = (from: net.Socket, to: net.Socket): (() => void) => {
      const p: Pipe = { queue: [], timer: undefined };
      const pump = () => {
        if (p.timer !== undefined) return;
        while (p.queue.length > 0) {
          if (mode.kind === 'blackhole') return; // held until the mode changes
          const head = p.queue[0]!;
          const wait = mode.kind === 'delay' ? head.at + mode.ms - Date.now() : 0;
          if (wait > 0) {
            p.timer = setTimeout(() => {
              p.timer = undefined;
              pump();
            }, wait);
            return;
          }
          p.queue.shift();
          if (!to.destroyed) to.write(head.data);
        }
      };
      from.on('data', (data: Buffer) => {
        p.queue.push({ data, at: Date.now() });
        pump();
      });
      return pump;
    };
    const toServer = pipe(client, upstream);
    const toClient = pipe(upstream, client);
    const pumpBoth = () => {
      toServer();
      toClient();
    };
    pumps.add(pumpBoth);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    get mode() {
      return mode;
    },
    get accepted() {
      return accepted;
    },
    setMode(next) {
      mode = next;
      if (mode.kind === 'reset') {
        for (const socket of sockets) socket.resetAndDestroy();
        sockets.clear();
        pumps.clear();
      } else for (const pump of [...pumps]) pump();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
