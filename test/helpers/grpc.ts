import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { join } from 'node:path';

export interface Msg {
  text: string;
  n: number;
}

/** Service constructors loaded from test/fixtures/grpc (read from the source tree). */
export function loadProtos(): { Echo: grpc.ServiceClientConstructor; Health: grpc.ServiceClientConstructor } {
  const dir = join(process.cwd(), 'test', 'fixtures', 'grpc');
  const def = loader.loadSync([join(dir, 'echo.proto'), join(dir, 'health.proto')], { keepCase: true, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    sidegate: { test: { Echo: grpc.ServiceClientConstructor } };
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  return { Echo: pkg.sidegate.test.Echo, Health: pkg.grpc.health.v1.Health };
}

/**
 * A real gRPC server: Unary echoes (text "fail" → INVALID_ARGUMENT with trailer metadata),
 * ServerStream sends n messages, ClientStream sums, Bidi echoes each message; Health answers
 * SERVING for "" and NOT_SERVING for anything else.
 */
export async function startGrpcServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const { Echo, Health } = loadProtos();
  const server = new grpc.Server();
  server.addService(Echo.service, {
    Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      if (call.request.text === 'fail') {
        const md = new grpc.Metadata();
        md.set('x-why', 'asked-to-fail');
        cb({ code: grpc.status.INVALID_ARGUMENT, details: 'you asked for it', metadata: md });
        return;
      }
      const md = new grpc.Metadata();
      md.set('x-seen-forwarded-for', String(call.metadata.get('x-forwarded-for')[0] ?? ''));
      call.sendMetadata(md);
      cb(null, { text: `echo:${call.request.text}`, n: call.request.n });
    },
    ServerStream: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      for (let i = 0; i < call.request.n; i++) call.write({ text: `${call.request.text}-${i}`, n: i });
      call.end();
    },
    ClientStream: (call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      let sum = 0;
      let count = 0;
      call.on('data', (m: Msg) => {
        sum += m.n;
        count++;
      });
      call.on('end', () => cb(null, { text: `count:${count}`, n: sum }));
    },
    Bidi: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      call.on('data', (m: Msg) => call.write({ text: `bidi:${m.text}`, n: m.n * 2 }));
      call.on('end', () => call.end());
    },
  });
  server.addService(Health.service, {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, { status: string }>, cb: grpc.sendUnaryData<{ status: string }>) => {
      cb(null, { status: call.request.service === '' ? 'SERVING' : 'NOT_SERVING' });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return { port, close: () => new Promise((r) => server.tryShutdown(() => r())) };
}
