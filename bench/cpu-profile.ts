/**
 * Summarises a V8 CPU profile (`node --cpu-prof`) by where the self time went: grouped into the
 * areas a unary call crosses (HTTP parsing, Fastify, the connect-es pipeline, AbortController,
 * async-iterable helpers, Headers, protobuf, GC...) and by function. Reads a sampling heap
 * profile (`.heapprofile`, bench:grpc's BENCH_HEAP_PROFILE_DIR) the same way, by bytes allocated.
 *
 *   node dist/bench/cpu-profile.js FILE.cpuprofile [--from-us=N --to-us=N] [--calls=N] [--top=N]
 *     [--inclusive=functionName,...]
 *
 * --from-us/--to-us keep only the samples of that window (the monotonic clock bench:grpc prints
 * with BENCH_NODE_FLAGS=--cpu-prof), so warm-up and start-up are left out; --calls turns the
 * times into µs per call. The profile samples the main thread: GC work on helper threads and
 * the time the thread was idle are not in the busy total.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
  /** Heap profiles only: bytes allocated here. */
  selfSize?: number;
}
interface HeapNode {
  id: number;
  callFrame: ProfileNode['callFrame'];
  selfSize: number;
  children: HeapNode[];
}
interface HeapProfile {
  head: HeapNode;
}

/** The tree of a sampling heap profile as a CPU profile's node list, without samples. */
function flattenHeapProfile(p: HeapProfile): Profile {
  const nodes: ProfileNode[] = [];
  const visit = (n: HeapNode) => {
    nodes.push({ ...n, children: n.children.map((c) => c.id) });
    n.children.forEach(visit);
  };
  visit(p.head);
  return { nodes, startTime: 0, endTime: 0, samples: [], timeDeltas: [] };
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The first matching rule names a frame's area; order matters. */
const areas: [string, (fn: string, url: string) => boolean][] = [
  ['(idle)', (fn) => fn === '(idle)'],
  ['GC (main thread)', (fn) => fn === '(garbage collector)'],
  ['V8/native, unattributed (program)', (fn) => fn === '(program)'],
  [
    'AbortController / AbortSignal / DOMException',
    (fn, url) =>
      /abort_controller|domexception/.test(url) ||
      /^(DOMException|AbortController|AbortSignal)$/.test(fn) ||
      url.includes('@connectrpc/connect/dist/esm/protocol/signals.js'),
  ],
  ['connect-es async-iterable helpers', (_fn, url) => url.includes('/protocol/async-iterable.js')],
  [
    'Web Headers (undici) and conversion',
    (_fn, url) =>
      // Node's Headers class is undici's; nothing else of undici runs in these servers.
      url.includes('internal/deps/undici') ||
      url.includes('/connect-node/dist/esm/node-universal-header.js') ||
      url.includes('/connect/dist/esm/http-headers.js'),
  ],
  [
    'connect-node request/response adapters',
    (_fn, url) => url.includes('@connectrpc/connect-node'),
  ],
  ['connect-fastify plugin', (_fn, url) => url.includes('@connectrpc/connect-fastify')],
  ['connect-es handler pipeline', (_fn, url) => url.includes('@connectrpc/connect/')],
  ['protobuf-es (encode/decode, JSON)', (_fn, url) => url.includes('@bufbuild/protobuf')],
  ['grpc-js', (_fn, url) => url.includes('@grpc/grpc-js')],
  [
    'Fastify (routing, hooks, reply, plugins)',
    (_fn, url) => /node_modules\/(fastify|find-my-way|avvio|@fastify|light-my-request)\//.test(url),
  ],
  ['logging (pino)', (_fn, url) => url.includes('node_modules/pino')],
  ['project code (src/, bench/)', (_fn, url) => /\/dist\/(src|bench|gen)\//.test(url)],
  ['URL parsing (new URL)', (_fn, url) => url === 'node:internal/url'],
  ['TextEncoder / TextDecoder', (_fn, url) => url === 'node:internal/encoding'],
  ['randomUUID (request ids)', (_fn, url) => url === 'node:internal/crypto/random'],
  ['Node HTTP/2 (node:internal/http2)', (_fn, url) => url.includes('internal/http2')],
  ['Node HTTP/1.1 (_http_*, llhttp)', (_fn, url) => /node:_http_|internal\/http\b/.test(url)],
  ['Node streams', (_fn, url) => url.includes('internal/streams')],
  ['Node net / sockets', (_fn, url) => /node:net|internal\/stream_base_commons/.test(url)],
  ['Node timers', (_fn, url) => /internal\/timers|node:timers/.test(url)],
  ['Node events', (_fn, url) => /node:events|internal\/event_target/.test(url)],
  ['promises / microtasks', (_fn, url) => url.includes('internal/process/task_queues')],
  ['other node_modules', (_fn, url) => url.includes('node_modules')],
  ['other Node internals', (_fn, url) => url.startsWith('node:')],
  ['other', () => true],
];

const args = new Map(
  process.argv
    .slice(3)
    .map((a) => /^--([a-z-]+)=(.*)$/.exec(a))
    .filter((m) => m !== null)
    .map((m) => [m[1] ?? '', m[2] ?? ''] as const),
);
const file = process.argv[2];
if (file === undefined) {
  console.error(
    'usage: cpu-profile.js FILE.cpuprofile [--from-us=N --to-us=N] [--calls=N] [--top=N] [--inclusive=fn,...]',
  );
  process.exit(2);
}
const parsed = JSON.parse(readFileSync(file, 'utf8')) as Profile | HeapProfile;
// A heap profile (BENCH_HEAP_PROFILE_DIR) is read the same way: bytes allocated stand for time.
const heap = 'head' in parsed;
const profile = heap ? flattenHeapProfile(parsed) : parsed;
const from = Number(args.get('from-us') ?? -Infinity);
const to = Number(args.get('to-us') ?? Infinity);
const calls = Number(args.get('calls') ?? NaN);
const top = Number(args.get('top') ?? 25);

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>(
  heap ? profile.nodes.map((n) => [n.id, n.selfSize ?? 0]) : [],
);
let t = profile.startTime;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i] ?? 0;
  // A sample stands for the time until the next one.
  const span = profile.timeDeltas[i + 1] ?? 0;
  const id = profile.samples[i];
  if (id === undefined || t < from || t > to) continue;
  selfUs.set(id, (selfUs.get(id) ?? 0) + span);
}

const parentOf = new Map<number, number>();
for (const n of profile.nodes) for (const child of n.children ?? []) parentOf.set(child, n.id);
/** A native function (no URL: writev, the URL parser...) counts in the area of its caller. */
function areaOf(node: ProfileNode): string {
  let n: ProfileNode | undefined = node;
  while (n !== undefined && n.callFrame.url === '' && !n.callFrame.functionName.startsWith('(')) {
    const parent = parentOf.get(n.id);
    n = parent === undefined ? undefined : byId.get(parent);
  }
  const { functionName, url } = (n ?? node).callFrame;
  return areas.find(([, test]) => test(functionName, url))?.[0] ?? 'other';
}
const shortUrl = (url: string) =>
  url
    .replace(/^.*node_modules\//, '')
    .replace(/^file:\/\/.*\/dist\//, '')
    .replace(/\/dist\/esm\//, '/');

const byArea = new Map<string, number>();
const byFunction = new Map<string, number>();
let total = 0;
for (const [id, us] of selfUs) {
  const node = byId.get(id);
  if (node === undefined) continue;
  total += us;
  const area = areaOf(node);
  byArea.set(area, (byArea.get(area) ?? 0) + us);
  const { functionName, url, lineNumber } = node.callFrame;
  const key = `${functionName || '(anonymous)'}  ${shortUrl(url)}${url ? `:${lineNumber + 1}` : ''}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
}
// --inclusive=name,name: time spent in (and under) functions of those names, each counted once
// per sample however deep the recursion.
const inclusiveNames = (args.get('inclusive') ?? '').split(',').filter(Boolean);
const inclusive = new Map(inclusiveNames.map((name) => [name, 0]));
for (const [id, us] of selfUs) {
  const seen = new Set<string>();
  for (let n = byId.get(id); n !== undefined; n = byId.get(parentOf.get(n.id) ?? -1)) {
    const name = n.callFrame.functionName;
    if (inclusive.has(name) && !seen.has(name)) {
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + us);
    }
  }
}
const idle = byArea.get('(idle)') ?? 0;
const busy = total - idle;

// Times are in µs, sizes in bytes: both shown per call in the unit of the profile.
const [unit, scale, what] = heap ? ['KB', 1024, 'allocated'] : ['µs', 1, 'busy'];
const row = (label: string, us: number) => {
  const perCall = Number.isNaN(calls)
    ? ''
    : `${(us / scale / calls).toFixed(1).padStart(8)} ${unit}/call`;
  return `${((100 * us) / busy).toFixed(1).padStart(6)} %  ${perCall}  ${label}`;
};
const head = heap
  ? `${file}: ${(total / 1048576).toFixed(1)} MB allocated (sampled)`
  : `${file}: ${(total / 1e6).toFixed(2)} s sampled, busy ${(busy / 1e6).toFixed(2)} s`;
const perCallTotal = Number.isNaN(calls)
  ? ''
  : `, ${calls} calls: ${(busy / scale / calls).toFixed(1)} ${unit} ${what} per call`;
console.log(head + perCallTotal);
console.log(`\nself ${heap ? 'allocation' : 'time'} by area (share of ${what}):`);
for (const [area, us] of [...byArea].sort((a, b) => b[1] - a[1])) {
  if (area !== '(idle)') console.log(row(area, us));
}
console.log(`\ntop ${top} functions by self ${heap ? 'allocation' : 'time'}:`);
for (const [key, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top + 1)) {
  if (!key.startsWith('(idle)')) console.log(row(key, us));
}
if (inclusive.size > 0) console.log('\ninclusive time (the function and all it calls):');
for (const [name, us] of inclusive) console.log(row(name, us));
