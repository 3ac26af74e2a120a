import { describe, expect, it } from 'vitest';
import { readEventStream, SseParser, type SseMessage } from '@/lib/sse';

function collect() {
  const messages: SseMessage[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const parser = new SseParser({
    onMessage: (m) => messages.push(m),
    onRetry: (ms) => retries.push(ms),
    onComment: (c) => comments.push(c),
  });
  return { parser, messages, retries, comments };
}

/** What a whole stream parses to when fed in the given pieces. */
function parse(pieces: string[]) {
  const c = collect();
  for (const p of pieces) c.parser.push(p);
  return { messages: c.messages, retries: c.retries, comments: c.comments };
}

const STREAM =
  '\uFEFFretry: 3000\r\n' +
  'event: ready\r\n' +
  'data: {"tenantId":"acme","flushMs":500}\r\n' +
  '\r\n' +
  ': keepalive\n' +
  '\n' +
  'event: notification\n' +
  'data: [{"_id":"a","status":"SENT"},\n' +
  'data: {"_id":"b","status":"FAILED"}]\n' +
  '\n' +
  'id: 7\r' +
  'event:resync\r' +
  'data:{"reason":"too many updates"}\r' +
  '\r' +
  'data\n' +
  'data:  two spaces\n' +
  '\n' +
  'event: ignored-without-data\n' +
  'retry: soon\n' +
  'unknown: field\n' +
  '\n' +
  'data: ünïcødé ✓\r\n' +
  '\r\n' +
  'data: not finished';

const EXPECTED: SseMessage[] = [
  { event: 'ready', data: '{"tenantId":"acme","flushMs":500}', id: '' },
  { event: 'notification', data: '[{"_id":"a","status":"SENT"},\n{"_id":"b","status":"FAILED"}]', id: '' },
  { event: 'resync', data: '{"reason":"too many updates"}', id: '7' },
  { event: 'message', data: '\n two spaces', id: '7' },
  { event: 'message', data: 'ünïcødé ✓', id: '7' },
];

describe('SseParser', () => {
  it('parses fields, comments, multi-line data and CRLF, LF and CR line ends', () => {
    const r = parse([STREAM]);
    expect(r.messages).toEqual(EXPECTED);
    expect(r.retries).toEqual([3000]);
    expect(r.comments).toEqual(['keepalive']);
  });

  it('gives the same events however the stream is cut in two', () => {
    for (let i = 0; i <= STREAM.length; i += 1) {
      const r = parse([STREAM.slice(0, i), STREAM.slice(i)]);
      expect(r.messages, `cut at ${i}`).toEqual(EXPECTED);
      expect(r.retries).toEqual([3000]);
    }
  });

  it('gives the same events one character at a time and in random pieces', () => {
    expect(parse([...STREAM]).messages).toEqual(EXPECTED);
    let seed = 42;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 200; round += 1) {
      const pieces: string[] = [];
      for (let i = 0; i < STREAM.length; ) {
        const n = 1 + Math.floor(rnd() * 12);
        pieces.push(STREAM.slice(i, i + n));
        i += n;
      }
      expect(parse(pieces).messages).toEqual(EXPECTED);
    }
  });

  it('keeps a CR at the end of a chunk from doubling into two line ends', () => {
    // "data: x\r" + "\n\r\n": one event, not an extra blank line that dispatches too early
    const r = parse(['data: x\r', '\ndata: y\r', '\n\r', '\n']);
    expect(r.messages).toEqual([{ event: 'message', data: 'x\ny', id: '' }]);
  });

  it('does not dispatch an event without data, and resets the event type after each event', () => {
    const r = parse(['event: a\n\nevent: b\ndata: 1\n\ndata: 2\n\n']);
    expect(r.messages.map((m) => [m.event, m.data])).toEqual([
      ['b', '1'],
      ['message', '2'],
    ]);
  });

  it('discards an unterminated event on reset (a stream that ended mid-event)', () => {
    const c = collect();
    c.parser.push('event: notification\ndata: [1]');
    c.parser.reset();
    c.parser.push('data: fresh\n\n');
    expect(c.messages).toEqual([{ event: 'message', data: 'fresh', id: '' }]);
  });
});

describe('readEventStream', () => {
  it('decodes UTF-8 split inside a character across chunks', async () => {
    const bytes = new TextEncoder().encode('event: notification\ndata: [{"_id":"é✓"}]\n\n');
    const cut = bytes.indexOf(0xc3) + 1; // inside "é"
    const chunks = [bytes.slice(0, cut), bytes.slice(cut, cut + 3), bytes.slice(cut + 3)];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const ch of chunks) controller.enqueue(ch);
        controller.close();
      },
    });
    const c = collect();
    let seen = 0;
    await readEventStream(body, c.parser, () => (seen += 1));
    expect(seen).toBe(3);
    expect(c.messages).toEqual([{ event: 'notification', data: '[{"_id":"é✓"}]', id: '' }]);
  });

  it('rejects when the stream errors', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('data: 1\n\n'));
        controller.error(new Error('connection reset'));
      },
    });
    const c = collect();
    await expect(readEventStream(body, c.parser)).rejects.toThrow('connection reset');
  });
});
