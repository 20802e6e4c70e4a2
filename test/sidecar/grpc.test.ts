import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { loadProtos, startGrpcServer, type Msg } from '../helpers/grpc.js';
import { startProxy } from '../helpers/proxy.js';

type Unary = (
  m: Msg,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (e: grpc.ServiceError | null, r?: Msg) => void,
) => grpc.ClientUnaryCall;

t.test('gRPC through the sidecar (h2c client → sidecar → h2c app)', async (t) => {
  const app = await startGrpcServer();
  const p = await startProxy(`h2c://127.0.0.1:${app.port}`);
  const { Echo } = loadProtos();
  const client = new Echo(`127.0.0.1:${p.proxy.port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, unknown>;
  t.teardown(async () => {
    client.close();
    await p.close();
    await app.close();
  });

  await t.test('unary: message, headers metadata and OK status', async (t) => {
    let headers: grpc.Metadata | undefined;
    const r = await new Promise<Msg>((resolve, reject) => {
      const call = (client.Unary as Unary).call(client, { text: 'hi', n: 7 }, new grpc.Metadata(), {}, (e, m) =>
        e ? reject(e) : resolve(m!),
      );
      call.on('metadata', (md) => {
        headers = md;
      });
    });
    t.same(r, { text: 'echo:hi', n: 7 });
    t.equal(headers?.get('x-seen-forwarded-for')[0], '127.0.0.1', 'the app saw x-forwarded-for');
  });

  await t.test('unary error: grpc-status, message and trailer metadata preserved', async (t) => {
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      (client.Unary as Unary).call(client, { text: 'fail', n: 0 }, new grpc.Metadata(), {}, (e) => resolve(e!));
    });
    t.equal(err.code, grpc.status.INVALID_ARGUMENT);
    t.equal(err.details, 'you asked for it');
    t.equal(err.metadata.get('x-why')[0], 'asked-to-fail');
  });

  await t.test('server streaming', async (t) => {
    const call = (client.ServerStream as (m: Msg) => grpc.ClientReadableStream<Msg>).call(client, { text: 's', n: 200 });
    const got: Msg[] = [];
    for await (const m of call) got.push(m as Msg);
    t.equal(got.length, 200);
    t.same(got[199], { text: 's-199', n: 199 });
  });

  await t.test('client streaming and bidi', async (t) => {
    const sum = await new Promise<Msg>((resolve, reject) => {
      const call = (client.ClientStream as (cb: (e: grpc.ServiceError | null, m?: Msg) => void) => grpc.ClientWritableStream<Msg>).call(
        client,
        (e, m) => (e ? reject(e) : resolve(m!)),
      );
      for (let i = 1; i <= 100; i++) call.write({ text: '', n: i });
      call.end();
    });
    t.same(sum, { text: 'count:100', n: 5050 });
    const bidi = (client.Bidi as () => grpc.ClientDuplexStream<Msg, Msg>).call(client);
    const replies: Msg[] = [];
    // Each reply arrives before the next message is sent: genuinely interleaved both ways.
    for (let i = 0; i < 20; i++) {
      const next = new Promise<Msg>((r) => bidi.once('data', r));
      bidi.write({ text: `m${i}`, n: i });
      replies.push(await next);
    }
    bidi.end();
    t.equal(replies.length, 20);
    t.same(replies[5], { text: 'bidi:m5', n: 10 });
  });
});
