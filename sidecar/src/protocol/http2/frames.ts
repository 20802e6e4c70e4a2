/** HTTP/2 frame types, flags, settings and error codes (RFC 9113 §6, §7, §11). */

export const FrameType = {
  Data: 0,
  Headers: 1,
  Priority: 2,
  RstStream: 3,
  Settings: 4,
  PushPromise: 5,
  Ping: 6,
  Goaway: 7,
  WindowUpdate: 8,
  Continuation: 9,
} as const;

export const Flag = { EndStream: 0x1, Ack: 0x1, EndHeaders: 0x4, Padded: 0x8, Priority: 0x20 } as const;

export const Setting = {
  HeaderTableSize: 1,
  EnablePush: 2,
  MaxConcurrentStreams: 3,
  InitialWindowSize: 4,
  MaxFrameSize: 5,
  MaxHeaderListSize: 6,
} as const;

export const ErrorCode = {
  NoError: 0,
  ProtocolError: 1,
  InternalError: 2,
  FlowControlError: 3,
  StreamClosed: 5,
  FrameSizeError: 6,
  RefusedStream: 7,
  Cancel: 8,
  CompressionError: 9,
  EnhanceYourCalm: 11,
} as const;

/** Largest window (RFC 9113 §6.9.1). */
export const MAX_WINDOW = 0x7fffffff;
/** The initial window every stream and connection starts with (RFC 9113 §6.9.2). */
export const DEFAULT_WINDOW = 65535;
/** SETTINGS_MAX_FRAME_SIZE's default and floor; also the largest frame sidegate accepts. */
export const MIN_MAX_FRAME = 16384;
export const MAX_MAX_FRAME = 0xffffff;

/** A frame header in a fresh 9-byte buffer (the payload is written separately). */
export function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const h = Buffer.allocUnsafe(9);
  writeFrameHeader(h, 0, length, type, flags, stream);
  return h;
}

export function writeFrameHeader(b: Buffer, at: number, length: number, type: number, flags: number, stream: number): void {
  b[at] = length >>> 16;
  b[at + 1] = (length >>> 8) & 0xff;
  b[at + 2] = length & 0xff;
  b[at + 3] = type;
  b[at + 4] = flags;
  b.writeUInt32BE(stream, at + 5);
}

/** A whole frame with a small payload of 32-bit words (RST_STREAM, WINDOW_UPDATE, GOAWAY). */
export function wordFrame(type: number, flags: number, stream: number, ...words: number[]): Buffer {
  const b = Buffer.allocUnsafe(9 + 4 * words.length);
  writeFrameHeader(b, 0, 4 * words.length, type, flags, stream);
  for (let i = 0; i < words.length; i++) b.writeUInt32BE(words[i]!, 9 + 4 * i);
  return b;
}

/** A SETTINGS frame with the given [id, value] pairs. */
export function settingsFrame(pairs: readonly (readonly [number, number])[]): Buffer {
  const b = Buffer.allocUnsafe(9 + 6 * pairs.length);
  writeFrameHeader(b, 0, 6 * pairs.length, FrameType.Settings, 0, 0);
  pairs.forEach(([id, v], i) => {
    b.writeUInt16BE(id, 9 + 6 * i);
    b.writeUInt32BE(v, 11 + 6 * i);
  });
  return b;
}
