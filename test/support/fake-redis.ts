/**
 * A scripted Redis of our own (node:net) for unit tests of how ioredis behaves when a server is
 * slow at a chosen moment: it speaks just enough RESP3 for ioredis's connection set-up (HELLO,
 * CLIENT, INFO), PING and SUBSCRIBE, and answers each command a chosen time after it arrived,
 * in order, as Redis does (an answer held back holds back the ones after it). No real server is
 * needed.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** One command as a connection sent it: upper-cased name, then its arguments. */
export interface FakeCommand {
  readonly name: string;
  readonly args: readonly string[];
  /** Which connection sent it, counting from 1 in the order they were accepted. */
  readonly connection: number;
}

/** How the fake server answers. */
export interface FakeRedisOptions {
  /** How long after its arrival a command is answered, ms (0 when not given). */
  readonly delayMs?: (command: FakeCommand) => number;
}

/** A running fake server. */
export interface FakeRedis {
  readonly url: string;
  /** Every command received so far, in order. */
  readonly commands: readonly FakeCommand[];
  /** Destroys every open connection (the clients see the server drop them). */
  dropConnections(): void;
  close(): Promise<void>;
}

const bulk = (s: string) => `$${String(Buffer.byteLength(s))}\r\n${s}\r\n`;

/** RESP3 answer to one command. */
function answer(command: FakeCommand): string {
  switch (command.name) {
    case 'HELLO':
      return `%3\r\n${bulk('server')}${bulk('redis')}${bulk('version')}${bulk('7.0.0')}${bulk('proto')}:3\r\n`;
    case 'INFO':
      return bulk('# Server\r\nredis_version:7.0.0\r\nloading:0\r\n');
    case 'PING':
      return '+PONG\r\n';
    case 'SUBSCRIBE':
      return command.args
        .map((channel, i) => `>3\r\n${bulk('subscribe')}${bulk(channel)}:${String(i + 1)}\r\n`)
        .join('');
    default:
      return '+OK\r\n';
  }
}

/**
 * Complete commands at the start of `buffer` (arrays of bulk strings, as clients send them) and
 * the bytes left over.
 */
function parseCommands(buffer: Buffer): { commands: string[][]; rest: Buffer } {
  const commands: string[][] = [];
  let at = 0;
  const line = (from: number) => {
    const end = buffer.indexOf('\r\n', from);
    return end === -1 ? undefined : { text: buffer.toString('latin1', from, end), next: end + 2 };
  };
  for (;;) {
    const head = line(at);
    if (head?.text.startsWith('*') !== true) break;
    const parts: string[] = [];
    let next = head.next;
    let complete = true;
    for (let i = 0; i < Number(head.text.slice(1)); i++) {
      const size = line(next);
      if (size === undefined) {
        complete = false;
        break;
      }
      const length = Number(size.text.slice(1));
      if (size.next + length + 2 > buffer.length) {
        complete = false;
        break;
      }
      parts.push(buffer.toString('utf8', size.next, size.next + length));
      next = size.next + length + 2;
    }
    if (!complete) break;
    commands.push(parts);
    at = next;
  }
  return { commands, rest: buffer.subarray(at) };
}

/** Starts a fake server on a free port of 127.0.0.1. */
export async function startFakeRedis(options: FakeRedisOptions = {}): Promise<FakeRedis> {
  const commands: FakeCommand[] = [];
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    const connection = ++accepted;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let pending: Buffer = Buffer.alloc(0);
    // Answers go out in order: each after the one before it.
    let answered = Promise.resolve();
    socket.on('data', (data: Buffer) => {
      const parsed = parseCommands(Buffer.concat([pending, data]));
      pending = parsed.rest;
      for (const [name = '', ...args] of parsed.commands) {
        const command = { name: name.toUpperCase(), args, connection };
        commands.push(command);
        const due = performance.now() + (options.delayMs?.(command) ?? 0);
        answered = answered.then(async () => {
          const wait = due - performance.now();
          if (wait > 0) await sleep(wait);
          if (!socket.destroyed) socket.write(answer(command));
        });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${String(port)}`,
    commands,
    dropConnections() {
      for (const socket of sockets) socket.destroy();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
