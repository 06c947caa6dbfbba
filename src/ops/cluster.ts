/**
 * Several gate processes on one port, with Node's `cluster` module (FLUXGATE_GATE_PROCESSES
 * above 1): a primary forks them (each runs a whole gate and listens on the shared port; the
 * primary hands out connections round robin), starts another when one exits while the primary
 * is not stopping, passes a stop on to all of them, and serves the operations port for all of
 * them: one Prometheus page with every process's series apart (label `gate_process`), and one
 * readiness.
 *
 * The two sides talk over the cluster's IPC channel only:
 *
 *   process → primary   started                 it serves (its start-up finished)
 *   primary → process   stop                    stop gracefully, as on SIGTERM
 *   primary → process   ops query {id}          a scrape or readiness probe of the primary
 *   process → primary   ops answer {id, ...}    its registry as JSON and its readiness report
 *
 * A primary that exits first kills its processes; one killed outright leaves them to exit on
 * their own when they see the channel close (Node's cluster does that, without draining).
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { MetricObjectWithValues, MetricValue, Registry } from 'prom-client';
import { createPrimaryMetrics, mergeProcessMetrics } from './metrics.js';
import { serveOpsPages } from './ops-server.js';
import type { Readiness, ReadinessReport } from './readiness.js';
import { StartupError } from './startup.js';

const startedType = 'fluxgate:started';
const stopType = 'fluxgate:stop';
const opsQueryType = 'fluxgate:ops-query';
const opsAnswerType = 'fluxgate:ops-answer';

/** What a process sends back for a scrape or a readiness probe of the primary. */
interface OpsAnswer {
  readonly type: typeof opsAnswerType;
  readonly id: number;
  readonly metrics: MetricObjectWithValues<MetricValue<string>>[];
  readonly readiness: ReadinessReport;
}

/** How long the primary waits for a process's answer to a scrape or a probe. */
const opsAnswerMs = 2000;
/** A process that exits within this long of its start is started again only after a pause. */
const quickExitMs = 10_000;
/** The pause before starting again a process that exited quickly (no tight crash loop). */
const restartPauseMs = 1000;

function isMessage(message: unknown, type: string): message is Record<string, unknown> {
  return (
    typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type
  );
}

/** This process's place under a cluster primary. */
export interface ClusterMember {
  /**
   * Node's id of this process under its primary: 1..N for the first ones, the next number for
   * each process started later. Logs (`gateProcess`) and metrics (`gate_process`) carry it.
   */
  readonly id: number;
  /** Calls `listener` when the primary asks this process to stop. */
  onStop(listener: () => void): void;
  /** Tells the primary this process serves. */
  started(): void;
  /**
   * Answers the primary's scrapes and probes from `registry` and `readiness` until closed
   * (closing also stops the readiness probes, as closing an operations port does).
   */
  serveOps(registry: Registry, readiness: Readiness): { close(): Promise<void> };
}

/** This process's place under a cluster primary; undefined when it was not forked by one. */
export function clusterMember(): ClusterMember | undefined {
  const worker = cluster.worker;
  if (!cluster.isWorker || worker === undefined) return undefined;
  const send = (message: object) => {
    // The primary may be gone; the process then exits on its own.
    if (process.connected) process.send?.(message, undefined, {}, () => undefined);
  };
  return {
    id: worker.id,
    onStop(listener) {
      process.on('message', (message) => {
        if (isMessage(message, stopType)) listener();
      });
    },
    started: () => {
      send({ type: startedType });
    },
    serveOps(registry, readiness) {
      const answer = (message: unknown) => {
        if (!isMessage(message, opsQueryType) || typeof message.id !== 'number') return;
        const { id } = message;
        void registry.getMetricsAsJSON().then(
          (metrics) => {
            send({ type: opsAnswerType, id, metrics, readiness: readiness.report() });
          },
          () => {
            send({ type: opsAnswerType, id, metrics: [], readiness: readiness.report() });
          },
        );
      };
      process.on('message', answer);
      return {
        close: () => {
          process.off('message', answer);
          readiness.close();
          return Promise.resolve();
        },
      };
    },
  };
}

/** What the primary needs. */
export interface PrimaryOptions {
  /** How many processes to keep running. */
  readonly processes: number;
  readonly logger: Logger;
  /** Where the operations port of all the processes listens. */
  readonly opsHost: string;
  readonly opsPort: number;
  /** Environment the processes get besides the primary's own. */
  readonly env?: Readonly<Record<string, string>>;
}

/** A running primary. */
export interface RunningPrimary {
  /** Base URL of the operations port it serves for all its processes. */
  readonly opsUrl: string;
  /** Stops every process gracefully and resolves once all have exited; rejects if one failed. */
  close(): Promise<void>;
}

/** One process the primary started. */
interface Member {
  readonly worker: Worker;
  readonly startedAt: number;
  listening: boolean;
}

/**
 * Forks `processes` processes of this program and resolves once all of them serve. Rejects with
 * a {@link StartupError} when one exits before that (the others are stopped first).
 */
export async function startPrimary(options: PrimaryOptions): Promise<RunningPrimary> {
  const { logger } = options;
  const members = new Map<number, Member>();
  const restarts = new Set<NodeJS.Timeout>();
  let stopping = false;
  let allStarted = false;
  // Processes that exited with a failure while stopping.
  let failures = 0;
  let onAllStarted: (() => void) | undefined;
  let onStartFailed: ((error: Error) => void) | undefined;
  let onAllExited: (() => void) | undefined;

  const fork = () => {
    const worker = cluster.fork(options.env);
    members.set(worker.id, { worker, startedAt: Date.now(), listening: false });
  };
  const listening = () => [...members.values()].filter((m) => m.listening);
  const primaryMetrics = createPrimaryMetrics({ listening: () => listening().length });
  const stopAll = () => {
    for (const timer of restarts) clearTimeout(timer);
    restarts.clear();
    for (const { worker } of members.values()) {
      if (worker.isConnected()) worker.send({ type: stopType }, undefined, () => undefined);
    }
  };

  // Answers to scrapes and probes, by query id.
  let nextQuery = 0;
  const waiting = new Map<number, (answer: OpsAnswer) => void>();
  const ask = (worker: Worker): Promise<OpsAnswer | undefined> =>
    new Promise((resolve) => {
      const id = nextQuery++;
      const settle = (answer: OpsAnswer | undefined) => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(answer);
      };
      const timer = setTimeout(() => {
        settle(undefined);
      }, opsAnswerMs);
      waiting.set(id, settle);
      if (!worker.isConnected()) settle(undefined);
      else
        worker.send({ type: opsQueryType, id }, undefined, (error) => {
          if (error !== null) settle(undefined);
        });
    });
  const askAll = () =>
    Promise.all(listening().map(async (m) => ({ id: m.worker.id, answer: await ask(m.worker) })));

  cluster.on('message', (worker, message: unknown) => {
    if (isMessage(message, opsAnswerType) && typeof message.id === 'number') {
      waiting.get(message.id)?.(message as unknown as OpsAnswer);
      return;
    }
    if (!isMessage(message, startedType)) return;
    const member = members.get(worker.id);
    if (member === undefined) return;
    member.listening = true;
    // A stop sent while it was loading, before it listened for one, was lost: ask again.
    if (stopping) worker.send({ type: stopType }, undefined, () => undefined);
    if (!allStarted && listening().length === options.processes) {
      allStarted = true;
      onAllStarted?.();
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    const member = members.get(worker.id);
    members.delete(worker.id);
    if (stopping) {
      if (code !== 0) failures++;
      if (members.size === 0) onAllExited?.();
      return;
    }
    if (!allStarted) {
      // The service cannot start (a dependency unreachable all along, say): stop like one process.
      stopping = true;
      stopAll();
      onStartFailed?.(
        new StartupError(
          `gate process ${String(worker.id)} exited (code ${String(code)}, signal ${signal}) before it listened`,
        ),
      );
      return;
    }
    const ranMs = Date.now() - (member?.startedAt ?? 0);
    const pauseMs = ranMs < quickExitMs ? restartPauseMs : 0;
    primaryMetrics.processRestarts.inc();
    logger.warn(
      {
        exitedProcess: String(worker.id),
        exitedPid: worker.process.pid,
        code,
        signal,
        restartInMs: pauseMs,
      },
      'gate process exited; starting another',
    );
    const timer = setTimeout(() => {
      restarts.delete(timer);
      if (!stopping) fork();
    }, pauseMs);
    restarts.add(timer);
  });

  const started = new Promise<void>((resolve, reject) => {
    onAllStarted = resolve;
    onStartFailed = reject;
  });
  const allExited = new Promise<void>((resolve) => {
    onAllExited = resolve;
  });
  // A primary that exits before its processes (a second signal, a crash) takes them with it
  // at once; without this they would exit only once they noticed the channel closed.
  process.on('exit', () => {
    for (const { worker } of members.values()) worker.process.kill('SIGKILL');
  });

  // The operations port first: taken, it stops the primary before any gate starts.
  const ops = await serveOpsPages(
    {
      contentType: primaryMetrics.registry.contentType,
      async metrics() {
        const answers = await askAll();
        return mergeProcessMetrics([
          await primaryMetrics.registry.getMetricsAsJSON(),
          ...answers.flatMap(({ answer }) => (answer === undefined ? [] : [answer.metrics])),
        ]);
      },
      async readiness() {
        if (stopping) return { ready: false, checks: { primary: 'stopping' } };
        const answers = await askAll();
        if (answers.length === 0)
          return { ready: false, checks: { primary: 'no process listening' } };
        // Ready when every process the port hands connections to is.
        const checks: Record<string, string> = {};
        let ready = true;
        for (const { id, answer } of answers) {
          if (answer === undefined) {
            checks[String(id)] = `no answer within ${String(opsAnswerMs)} ms`;
            ready = false;
            continue;
          }
          for (const [name, result] of Object.entries(answer.readiness.checks)) {
            checks[`${String(id)}/${name}`] = result;
          }
          ready &&= answer.readiness.ready;
        }
        return { ready, checks };
      },
    },
    options.opsHost,
    options.opsPort,
  );
  for (let i = 0; i < options.processes; i++) fork();
  try {
    await started;
  } catch (error) {
    if (members.size > 0) await allExited;
    await ops.close();
    throw error;
  }

  logger.info({ processes: options.processes, ops: ops.url }, 'gate processes listening');

  return {
    opsUrl: ops.url,
    async close() {
      stopping = true;
      logger.info({ processes: members.size }, 'stopping gate processes');
      stopAll();
      if (members.size > 0) await allExited;
      await ops.close();
      if (failures > 0) throw new Error(`${String(failures)} gate processes exited with a failure`);
      logger.info('gate processes stopped');
    },
  };
}
