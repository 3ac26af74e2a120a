/**
 * A Server-Sent Events parser for a body read with fetch() (EventSource cannot send an
 * Authorization header). It follows the event-stream format of the HTML standard:
 *
 * - lines end with CRLF, LF or CR, and a chunk may end anywhere (inside a line, between the CR
 *   and the LF of a CRLF, inside a multi-byte character when fed bytes);
 * - `field: value` (one space after the colon is dropped), `field` alone means an empty value,
 *   lines starting with ':' are comments, unknown fields are ignored;
 * - `data` lines accumulate (joined with '\n'), a blank line dispatches the event; an event
 *   with no data is not dispatched; `event` defaults to 'message';
 * - `retry` (digits only) and `id` (without NUL) are remembered across events.
 */

export interface SseMessage {
  /** `event:` field, 'message' when absent */
  event: string;
  data: string;
  /** last event id seen so far ('' when none) */
  id: string;
}

export interface SseHandlers {
  onMessage: (message: SseMessage) => void;
  /** a valid `retry:` field (ms) */
  onRetry?: (ms: number) => void;
  /** a comment line (e.g. ': keepalive'), without the colon */
  onComment?: (text: string) => void;
}

export class SseParser {
  private buffer = '';
  /** the previous chunk ended with CR: an LF starting the next one belongs to it */
  private skipLf = false;
  private started = false;
  private data: string[] = [];
  private hasData = false;
  private eventType = '';
  private lastId = '';

  constructor(private readonly handlers: SseHandlers) {}

  get lastEventId(): string {
    return this.lastId;
  }

  /** Feeds decoded text; dispatches every event completed by it. */
  push(text: string): void {
    if (!text) return;
    if (!this.started) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // one leading BOM is ignored
    }
    if (this.skipLf) {
      this.skipLf = false;
      if (text.charCodeAt(0) === 10) text = text.slice(1);
    }
    const buf = this.buffer + text;
    let start = 0;
    const n = buf.length;
    for (let i = 0; i < n; i += 1) {
      const c = buf.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(buf.slice(start, i));
      if (c === 13) {
        if (i + 1 < n) {
          if (buf.charCodeAt(i + 1) === 10) i += 1;
        } else {
          this.skipLf = true; // the LF, if any, comes with the next chunk
        }
      }
      start = i + 1;
    }
    this.buffer = buf.slice(start);
  }

  /** The stream ended: an unterminated event is discarded (as the standard says). */
  reset(): void {
    this.buffer = '';
    this.skipLf = false;
    this.started = false;
    this.data = [];
    this.hasData = false;
    this.eventType = '';
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58) {
      this.handlers.onComment?.(line.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.handlers.onRetry?.(Number(value));
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(): void {
    const type = this.eventType || 'message';
    const hasData = this.hasData;
    const data = this.data.join('\n');
    this.data = [];
    this.hasData = false;
    this.eventType = '';
    if (!hasData) return;
    this.handlers.onMessage({ event: type, data, id: this.lastId });
  }
}

/**
 * Reads a fetch() body into the parser, decoding UTF-8 across chunk boundaries. Resolves when
 * the stream ends; rejects when reading fails (network error, abort).
 */
export async function readEventStream(
  body: ReadableStream<Uint8Array>,
  parser: SseParser,
  onChunk?: () => void,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8');
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      onChunk?.();
      parser.push(decoder.decode(value, { stream: true }));
    }
    parser.push(decoder.decode());
  } finally {
    reader.releaseLock();
  }
}
