// Publishing task events to containerd: ttrpc containerd.services.events.ttrpc.v1.Events/Forward
// on $TTRPC_ADDRESS, each event in an Envelope (timestamp, namespace, topic, Any with a bare type
// URL), with the namespace in the request metadata, as containerd's shims do (pkg/shim/publisher.go).
// Unlike Go's publisher, which requeues a failed event behind later ones, this one sends strictly
// in order (an exit can never overtake its start) and retries the head of the queue.
import { Events } from '../proto/generated/containerd.services.events.ttrpc.v1.js';
import type { AnyInit, Timestamp } from '../proto/generated/google.protobuf.js';
import type { MessageType } from '../proto/runtime.js';
import { packAny, timestampNow } from '../proto/wellknown.js';
import { TtrpcClient } from './ttrpc/client.js';
import { NAMESPACE_METADATA_KEY } from './ttrpc/server.js';

export interface PublisherOptions {
  /** $TTRPC_ADDRESS (`unix://` or a plain path). */
  address: string;
  /** Queue bound; when full, the oldest event is dropped (Go: 2048). */
  maxQueue?: number;
  /** Tries per event before it is dropped (Go: 5). */
  maxAttempts?: number;
  /** The wait before try n+1 (Go: n seconds). */
  backoffMs?: (attempt: number) => number;
  /** Per-call timeout (containerd's shims: 5 s). */
  timeoutMs?: number;
  log?: (message: string) => void;
  /** For tests: how to connect. */
  connect?: (address: string) => Promise<TtrpcClient>;
}

interface Queued {
  namespace: string;
  topic: string;
  timestamp: Timestamp;
  event: AnyInit;
  attempts: number;
}

export class EventPublisher {
  private queue: Queued[] = [];
  private client: TtrpcClient | undefined;
  private connecting: Promise<TtrpcClient> | undefined;
  private running = false;
  private closed = false;
  private idle: (() => void)[] = [];
  private readonly opts: Required<Omit<PublisherOptions, 'log' | 'connect'>> & Pick<PublisherOptions, 'log' | 'connect'>;

  constructor(options: PublisherOptions) {
    this.opts = { maxQueue: 2048, maxAttempts: 5, backoffMs: (n) => n * 1000, timeoutMs: 5000, ...options };
  }

  /**
   * Queues an event, timestamped now: `publish(ns, '/tasks/exit', events.TaskExit, {...})`.
   * Returns at once; delivery happens in order, in the background.
   */
  publish<I>(namespace: string, topic: string, type: MessageType<unknown, I>, message: I): void {
    this.publishAny(namespace, topic, packAny(type, message));
  }

  publishAny(namespace: string, topic: string, event: AnyInit): void {
    if (this.closed) {
      this.opts.log?.(`events: ${topic} published after close: dropped`);
      return;
    }
    if (this.queue.length >= this.opts.maxQueue) {
      const dropped = this.queue.shift()!;
      this.opts.log?.(`events: queue full, dropped ${dropped.topic}`);
    }
    this.queue.push({ namespace, topic, timestamp: timestampNow(), event, attempts: 0 });
    if (!this.running) {
      // Delivery starts once the call that published has answered (Create, Start…): connecting to
      // containerd and encoding the envelope are not on that call's way.
      this.running = true;
      setImmediate(() => void this.run());
    }
  }

  /**
   * Connects now (a new shim's first connection costs ~1 ms of its first calls' time), for a
   * caller with time to spare; a failure is left for the first publish to meet and retry.
   */
  prepare(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.connection().then(() => undefined, () => undefined);
  }

  /** Events waiting (including one being sent). */
  get pending(): number {
    return this.queue.length;
  }

  /** Resolves once every queued event has been delivered or dropped. */
  flush(): Promise<void> {
    if (this.queue.length === 0 && !this.running) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Delivers what is queued (see flush), then closes the connection; later publishes are dropped. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    await this.client?.close();
    this.client = undefined;
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      try {
        const client = await this.connection();
        await client.call(Events, 'Forward', {
          envelope: { timestamp: head.timestamp, namespace: head.namespace, topic: head.topic, event: head.event },
        }, { metadata: { [NAMESPACE_METADATA_KEY]: head.namespace }, timeoutMs: this.opts.timeoutMs });
        this.queue.shift();
      } catch (err) {
        head.attempts++;
        if (this.client?.closed) this.client = undefined;
        if (head.attempts >= this.opts.maxAttempts) {
          this.opts.log?.(`events: dropped ${head.topic} after ${head.attempts} tries: ${(err as Error).message}`);
          this.queue.shift();
          continue;
        }
        await new Promise((r) => setTimeout(r, this.opts.backoffMs(head.attempts)));
      }
    }
    this.running = false;
    for (const resolve of this.idle.splice(0)) resolve();
  }

  /** One connection at a time: prepare() and a publish may ask together. */
  private connection(): Promise<TtrpcClient> {
    if (this.client && !this.client.closed) return Promise.resolve(this.client);
    this.connecting ??= (this.opts.connect ?? TtrpcClient.connect)(this.opts.address).then((client) => {
      this.connecting = undefined;
      // closed while connecting (prepare() is not waited for): nothing will use it
      if (this.closed) void client.close();
      else this.client = client;
      return client;
    }, (err: unknown) => {
      this.connecting = undefined;
      throw err;
    });
    return this.connecting;
  }
}
