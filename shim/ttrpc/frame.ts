// ttrpc framing (containerd/ttrpc channel.go): a 10-byte header, then the payload.
//   uint32 BE payload length | uint32 BE stream id | uint8 type | uint8 flags
// Payloads are at most 4 MiB. A frame announcing more is not buffered: its bytes are discarded as
// they arrive and the frame is reported as oversized, so that (as in Go) the peer gets an error
// for that stream and the connection carries on.

export const HEADER_LENGTH = 10;
export const MAX_MESSAGE_LENGTH = 4 << 20;

export const MessageType = { Request: 1, Response: 2, Data: 3 } as const;
export const Flags = { RemoteClosed: 0x1, RemoteOpen: 0x2, NoData: 0x4 } as const;

export interface Frame {
  streamId: number;
  type: number;
  flags: number;
  /** Absent when the frame was oversized (its payload was discarded). */
  payload?: Buffer;
  /** The announced payload length. */
  length: number;
}

export function encodeFrame(streamId: number, type: number, flags: number, payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
  b.writeUInt32BE(payload.length, 0);
  b.writeUInt32BE(streamId >>> 0, 4);
  b[8] = type;
  b[9] = flags;
  b.set(payload, HEADER_LENGTH);
  return b;
}

export function oversizeMessage(length: number): string {
  return `message length ${length} exceed maximum message size of ${MAX_MESSAGE_LENGTH}`;
}

/** Splits a byte stream into frames, whatever the chunking (fragmented or coalesced reads). */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private header: { length: number; streamId: number; type: number; flags: number } | undefined;
  private discarding = 0;

  /** Feeds bytes; returns the frames completed by them, in order. */
  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    if (this.discarding > 0) {
      const n = Math.min(this.discarding, chunk.length);
      this.discarding -= n;
      chunk = chunk.subarray(n);
      if (this.discarding === 0) frames.push(this.finishOversized());
    }
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    for (;;) {
      if (!this.header) {
        if (this.buffered < HEADER_LENGTH) break;
        const h = this.take(HEADER_LENGTH);
        this.header = { length: h.readUInt32BE(0), streamId: h.readUInt32BE(4), type: h[8]!, flags: h[9]! };
        if (this.header.length > MAX_MESSAGE_LENGTH) {
          const n = Math.min(this.buffered, this.header.length);
          this.take(n);
          this.discarding = this.header.length - n;
          if (this.discarding > 0) break;
          frames.push(this.finishOversized());
          continue;
        }
      }
      if (this.buffered < this.header.length) break;
      const payload = this.take(this.header.length);
      const h = this.header;
      this.header = undefined;
      frames.push({ streamId: h.streamId, type: h.type, flags: h.flags, payload, length: h.length });
    }
    return frames;
  }

  private finishOversized(): Frame {
    const h = this.header!;
    this.header = undefined;
    return { streamId: h.streamId, type: h.type, flags: h.flags, length: h.length };
  }

  /** Bytes waiting for the rest of their frame (a connection closing with some is truncated). */
  get pending(): number {
    return this.buffered + (this.header ? HEADER_LENGTH : 0);
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - off);
        c.copy(out, off, 0, k);
        off += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }
}
