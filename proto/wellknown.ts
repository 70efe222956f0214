// Helpers for google.protobuf.Timestamp and Any as containerd uses them.
import { ProtoError, type MessageType } from './runtime.js';
import { Any, Timestamp, type AnyInit, type TimestampInit } from './generated/google.protobuf.js';

/**
 * Go's zero time.Time (0001-01-01T00:00:00Z) as a Timestamp. containerd's gogo types are
 * `nullable=false`, so an `exited_at` of a process that has not exited is this, never absent:
 * seconds -62135596800, a 10-byte varint on the wire.
 */
export const GO_ZERO_TIME: Timestamp = Object.freeze({ seconds: -62135596800n, nanos: 0 }) as Timestamp;

export function isGoZeroTime(ts: TimestampInit | undefined | null): boolean {
  return ts != null && BigInt(ts.seconds ?? 0) === GO_ZERO_TIME.seconds && (ts.nanos ?? 0) === 0;
}

/** A Timestamp from nanoseconds since the Unix epoch. */
export function timestampFromNanos(ns: bigint): Timestamp {
  let seconds = ns / 1_000_000_000n;
  let nanos = ns % 1_000_000_000n;
  if (nanos < 0n) {
    nanos += 1_000_000_000n;
    seconds -= 1n;
  }
  return { seconds, nanos: Number(nanos) };
}

export function timestampFromDate(d: Date): Timestamp {
  return timestampFromNanos(BigInt(d.getTime()) * 1_000_000n);
}

/** Now, with the microseconds performance.now() adds to Date's milliseconds. */
export function timestampNow(): Timestamp {
  const ms = performance.timeOrigin + performance.now();
  return timestampFromNanos(BigInt(Math.round(ms * 1000)) * 1000n);
}

export function timestampToNanos(ts: TimestampInit): bigint {
  return BigInt(ts.seconds ?? 0) * 1_000_000_000n + BigInt(ts.nanos ?? 0);
}

/** Millisecond precision, as Date has. */
export function timestampToDate(ts: TimestampInit): Date {
  return new Date(Number(timestampToNanos(ts) / 1_000_000n));
}

/**
 * Packs a message into an Any whose type URL is the bare full name (`containerd.events.TaskExit`),
 * as containerd's typeurl registry writes it for protobuf types.
 */
export function packAny<I>(type: MessageType<unknown, I>, message: I): Any {
  return { type_url: type.typeName, value: type.encode(message) };
}

/** The type URLs of the OCI types containerd carries as JSON in an Any (typeurl's registrations). */
export const OCI_PROCESS_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';
export const OCI_LINUX_RESOURCES_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources';
export const OCI_FEATURES_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/features/Features';

/** An Any carrying JSON, as containerd sends OCI types (`types.containerd.io/opencontainers/runtime-spec/1/Process`). */
export function packJsonAny(typeUrl: string, value: unknown): Any {
  return { type_url: typeUrl, value: Buffer.from(JSON.stringify(value)) };
}

/** The message name of a type URL: whatever follows its last `/` (bare URLs are names already). */
export function anyTypeName(any: AnyInit): string {
  const url = any.type_url ?? '';
  return url.slice(url.lastIndexOf('/') + 1);
}

/** Whether an Any holds the given message type, with or without a `type.googleapis.com/`-style prefix. */
export function anyIs(any: AnyInit | undefined | null, type: MessageType<unknown, unknown>): boolean {
  return any != null && anyTypeName(any) === type.typeName;
}

/** Decodes an Any of the given type; undefined when it holds another type; ProtoError when malformed. */
export function unpackAny<T>(any: AnyInit | undefined | null, type: MessageType<T, unknown>): T | undefined {
  if (!anyIs(any, type)) return undefined;
  return type.decode(any!.value ?? Buffer.alloc(0));
}

/** Decodes an Any holding JSON (the OCI types containerd sends in Exec and Update). */
export function unpackJsonAny(any: AnyInit): unknown {
  try {
    return JSON.parse(Buffer.from(any.value ?? []).toString('utf8'));
  } catch (err) {
    throw new ProtoError(`${any.type_url}: ${(err as Error).message}`);
  }
}
