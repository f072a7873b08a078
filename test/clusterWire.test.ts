/**
 * The NATS wire contract (shared/clusterWire.ts) without a server: frames
 * round-trip bit for bit, chunking respects max_payload and reassembles in
 * any order, and malformed or hostile frames are WireErrors, never crashes
 * or oversized allocations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeFrame, encodeFrame, encodeMessage, floatBytes, Reassembler, WireError, type WireHeader } from '../src/shared/clusterWire.js';
import { parseNatsUrl } from '../src/coordinator/cluster/natsConnection.js';

const result = (extra: Partial<WireHeader> = {}): WireHeader =>
  ({
    kind: 'result',
    run: 'r1',
    host: 'h1',
    step: 3,
    index: 1,
    loss: 0.5,
    correct: 7,
    count: 32,
    computeSeconds: 0.01,
    numTensors: 9,
    gradFloats: 1000,
    statFloats: 0,
    ...extra,
  }) as WireHeader;

test('a frame carries float32 gradients as their exact little-endian bytes', () => {
  const g = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 1e-3);
  g[5] = -0;
  g[6] = 1.401298464324817e-45; // a subnormal
  const { header, body } = decodeFrame(encodeFrame(result(), floatBytes(g)), 1 << 20);
  assert.deepEqual(header, result());
  assert.equal(body.length, 4000);
  const back = new Float32Array(body.slice().buffer);
  assert.deepEqual(new Uint8Array(back.buffer), new Uint8Array(g.buffer));
  assert.ok(Object.is(back[5], -0));
});

test('a message above max_payload is cut into frames no larger than max_payload that reassemble in any order', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 50_000 }), fc.integer({ min: 2048, max: 20_000 }), fc.integer(), (n, maxPayload, seed) => {
      const body = Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
      const frames = encodeMessage(result({ gradFloats: Math.ceil(n / 4) } as Partial<WireHeader>), body, maxPayload, 'c1');
      assert.ok(frames.every((f) => f.length <= maxPayload));
      const shuffled = frames
        .map((f, i) => ({ f, k: (i * 7919 + seed) % 1009 }))
        .sort((a, b) => a.k - b.k)
        .map((x) => x.f);
      const r = new Reassembler(() => n);
      let whole: ReturnType<Reassembler['add']> = null;
      for (const f of shuffled) {
        const d = decodeFrame(f, maxPayload);
        whole = r.add('h1', d.header, d.body);
      }
      assert.ok(whole);
      assert.deepEqual(whole.body, body);
      assert.equal('chunk' in whole.header, false);
    }),
    { numRuns: 40 },
  );
});

test('a body given in parts is framed exactly as the joined body, whole or in chunks, whatever the split', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 9_000 }), { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 2048, max: 40_000 }),
      (sizes, maxPayload) => {
        const parts = sizes.map((n, k) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + k * 101) & 0xff));
        const joined = Uint8Array.from(parts.flatMap((p) => [...p]));
        const header = result({ gradFloats: Math.ceil(joined.length / 4) } as Partial<WireHeader>);
        assert.deepEqual(encodeMessage(header, parts, maxPayload, 'c1'), encodeMessage(header, joined, maxPayload, 'c1'));
        assert.deepEqual(encodeFrame(header, parts), encodeFrame(header, joined));
      },
    ),
    { numRuns: 60 },
  );
});

test('malformed frames are WireErrors: short, lying length, not JSON, unknown kind, wrong types, extra keys', () => {
  const enc = new TextEncoder();
  const frame = (json: string) => {
    const h = enc.encode(json);
    const out = new Uint8Array(4 + h.length);
    new DataView(out.buffer).setUint32(0, h.length, true);
    out.set(h, 4);
    return out;
  };
  const bad: Uint8Array[] = [
    new Uint8Array([1, 2]),
    new Uint8Array([255, 255, 255, 255, 0]),
    frame('{"kind":'),
    frame('{"kind":"exec","code":"process.exit(1)"}'),
    frame('{"kind":"task","run":"r","step":-1,"epoch":0,"index":0,"start":0,"count":1}'),
    frame('{"kind":"task","run":"../x","step":1,"epoch":0,"index":0,"start":0,"count":1}'),
    frame('{"kind":"beat","run":"r","__proto__":{"polluted":true}}'),
    frame(
      '{"kind":"result","run":"r","host":"h","step":1,"index":0,"loss":"NaN","correct":0,"count":1,"computeSeconds":0,"numTensors":0,"gradFloats":1,"statFloats":0}',
    ),
  ];
  for (const b of bad) assert.throws(() => decodeFrame(b, 1 << 20), WireError);
  assert.equal(({} as { polluted?: boolean }).polluted, undefined);
  assert.throws(() => decodeFrame(new Uint8Array(100), 50), /exceeds/);
});

test('random bytes never do more than throw a WireError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      try {
        decodeFrame(bytes, 1 << 20);
      } catch (err) {
        assert.ok(err instanceof WireError, String(err));
      }
    }),
    { numRuns: 500 },
  );
});

test('a chunk announcing more bytes than the model holds is refused before anything is allocated', () => {
  const r = new Reassembler(() => 4000);
  const huge = { ...result(), chunk: { id: 'x', offset: 0, total: 2 ** 31 - 1 } } as WireHeader;
  assert.throws(() => r.add('h1', huge, new Uint8Array(10)), /exceeds 4000/);
  const overrun = { ...result(), chunk: { id: 'y', offset: 3990, total: 4000 } } as WireHeader;
  assert.throws(() => r.add('h1', overrun, new Uint8Array(20)), /overruns/);
  const whole = new Reassembler(() => 16);
  assert.throws(() => whole.add('h1', result(), new Uint8Array(17)), /exceeds 16/);
});

test('--nats URLs give their token or user and password to the client and keep them out of the server list', () => {
  assert.deepEqual(parseNatsUrl('nats://s3cret@127.0.0.1:4222'), { servers: ['nats://127.0.0.1:4222'], token: 's3cret' });
  assert.deepEqual(parseNatsUrl('nats://ann:p%40ss@10.0.0.5:4222'), { servers: ['nats://10.0.0.5:4222'], user: 'ann', pass: 'p@ss' });
  assert.deepEqual(parseNatsUrl('127.0.0.1:4222,127.0.0.1:4223', 'x.creds'), {
    servers: ['nats://127.0.0.1:4222', 'nats://127.0.0.1:4223'],
    credsFile: 'x.creds',
  });
});

test('NATS secrets never reach the saved config or argv: user, password and token are dropped from URLs', async () => {
  const { withoutNatsSecrets, withoutUrlSecrets } = await import('../src/coordinator/cluster/natsConnection.js');
  const { parseConfig } = await import('../src/shared/config.js');
  assert.equal(withoutUrlSecrets('nats://tok@10.0.0.1:4222,nats://u:p@10.0.0.2:4222'), 'nats://10.0.0.1:4222,nats://10.0.0.2:4222');
  const cfg = withoutNatsSecrets(parseConfig({ cluster: { nats: 'nats://s3cret@127.0.0.1:4222' } }, 'f'));
  assert.equal(cfg.cluster.nats, 'nats://127.0.0.1:4222');
  assert.ok(!JSON.stringify(cfg).includes('s3cret'));
});
