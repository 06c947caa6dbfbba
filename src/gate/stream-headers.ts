/**
 * A request's headers as Web `Headers`, without copying them: an HTTP/2 stream's, or an HTTP/1.1
 * request's (the direct paths, http2-calls.ts and http1-calls.ts).
 *
 * connect-es handlers take the request's headers as `Headers`. Building one from Node's header
 * object made undici check every name and value again, which Node's HTTP parsers had checked
 * already: 15–20 µs of a no-op call (docs/performance.md). A `StreamHeaders` reads Node's object
 * until something changes it, then copies it in and is a plain `Headers` from there on. It is a
 * subclass, so that connect-es takes it as the `Headers` it is.
 */
import type http2 from 'node:http2';

/** `Headers`' own methods, called on a StreamHeaders once it holds the headers itself. */
const base = Headers.prototype;

/** Leading or trailing whitespace, which `Headers` strips from a value. */
const outerWhitespace = /^[\t\n\r ]+|[\t\n\r ]+$/g;

/** The value `Headers` keeps of a header value. */
function normalized(value: string): string {
  const last = value.length - 1;
  return last >= 0 && (value.charCodeAt(0) <= 0x20 || value.charCodeAt(last) <= 0x20)
    ? value.replace(outerWhitespace, '')
    : value;
}

/** An HTTP token: what `Headers` accepts as a name. */
const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * `name` in lower case, or the error `Headers.<method>` throws for a name that is not a token
 * (pseudo-headers such as ":path" among them).
 */
function checked(method: 'get' | 'has', name: string): string {
  if (!token.test(name)) {
    throw new TypeError(`Headers.${method}: "${name}" is an invalid header name.`);
  }
  return name.toLowerCase();
}

/** Header `name` (lower case) of a stream's headers, as `Headers.get` answers. */
function read(node: http2.IncomingHttpHeaders, name: string): string | null {
  const value = node[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.map(normalized).join(', ') : normalized(value);
}

/**
 * `Headers` over a stream's header object, pseudo-headers left out (as connect-node does); see
 * the file comment. Typed as a plain class: the DOM typings declare `Headers`' methods as
 * properties, which a subclass may not override; {@link requestHeaders} gives it its type.
 */
class StreamHeaders extends (Headers as new () => object) {
  /** The stream's headers; undefined once they were copied in. */
  #node: http2.IncomingHttpHeaders | undefined;

  constructor(node: http2.IncomingHttpHeaders) {
    super();
    this.#node = node;
  }

  /** The headers as `Headers` iterates them: sorted by name, set-cookie values one by one. */
  #pairs(node: http2.IncomingHttpHeaders): [string, string][] {
    const pairs: [string, string][] = [];
    for (const name of Object.keys(node).sort()) {
      if (name.startsWith(':')) continue;
      const value = node[name];
      if (name === 'set-cookie' && Array.isArray(value)) {
        for (const v of value) pairs.push([name, normalized(v)]);
        continue;
      }
      const joined = read(node, name);
      if (joined !== null) pairs.push([name, joined]);
    }
    return pairs;
  }

  /** Copies the stream's headers in (checked, as `Headers` checks them) before a change. */
  #own(): void {
    const node = this.#node;
    if (node === undefined) return;
    this.#node = undefined;
    for (const [name, value] of Object.entries(node)) {
      if (name.startsWith(':') || value === undefined) continue;
      if (Array.isArray(value)) for (const v of value) base.append.call(this, name, v);
      else base.append.call(this, name, value);
    }
  }

  get(name: string): string | null {
    const node = this.#node;
    if (node === undefined) return base.get.call(this, name);
    return read(node, checked('get', name));
  }
  has(name: string): boolean {
    const node = this.#node;
    if (node === undefined) return base.has.call(this, name);
    return read(node, checked('has', name)) !== null;
  }
  getSetCookie(): string[] {
    const node = this.#node;
    if (node === undefined) return base.getSetCookie.call(this);
    const value = node['set-cookie'];
    return value === undefined ? [] : value.map(normalized);
  }
  set(name: string, value: string): void {
    this.#own();
    base.set.call(this, name, value);
  }
  append(name: string, value: string): void {
    this.#own();
    base.append.call(this, name, value);
  }
  delete(name: string): void {
    this.#own();
    base.delete.call(this, name);
  }
  forEach(
    callback: (value: string, name: string, parent: Headers) => void,
    thisArg?: unknown,
  ): void {
    const node = this.#node;
    if (node === undefined) {
      base.forEach.call(this, callback, thisArg);
      return;
    }
    for (const [name, value] of this.#pairs(node)) {
      Reflect.apply(callback, thisArg, [value, name, this]);
    }
  }
  entries(): IterableIterator<[string, string]> {
    const node = this.#node;
    return node === undefined ? base.entries.call(this) : this.#pairs(node).values();
  }
  keys(): IterableIterator<string> {
    const node = this.#node;
    return node === undefined
      ? base.keys.call(this)
      : this.#pairs(node)
          .map(([name]) => name)
          .values();
  }
  values(): IterableIterator<string> {
    const node = this.#node;
    return node === undefined
      ? base.values.call(this)
      : this.#pairs(node)
          .map(([, value]) => value)
          .values();
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}

/**
 * A request's headers as `Headers`, from Node's header object: an HTTP/2 stream's, or an
 * HTTP/1.1 request's (the same shape without pseudo-headers); see the file comment.
 */
export function requestHeaders(node: http2.IncomingHttpHeaders): Headers {
  return new StreamHeaders(node) as unknown as Headers;
}
