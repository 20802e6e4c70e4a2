import * as grpc from '@grpc/grpc-js';
import { connect } from 'node:http2';
import t from 'tap';
import { request } from 'undici';
import { grpcMessage, grpcStatusFor } from '../../sidecar/src/stages/respond/grpc.js';
import { loadProtos, startGrpcServer, type Msg } from '../helpers/grpc.js';
import { h2request } from '../helpers/h2.js';
import { JwksServer, mint, testKey } from '../helpers/jwks.js';
import { startProxy } from '../helpers/proxy.js';

type Unary = (
  m: Msg,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (e: grpc.ServiceError | null, r?: Msg) => void,
) => grpc.ClientUnaryCall;

t.test('the HTTP-to-gRPC status mapping and grpc-message encoding', async (t) => {
  t.same([400, 401, 403, 404, 429, 431, 500, 502, 503, 504].map(grpcStatusFor), [13, 16, 7, 12, 14, 2, 2, 14, 14, 14]);
  t.equal(grpcMessage('a 100% ok: é\n'), 'a 100%25 ok: %C3%A9%0A');
  t.equal(decodeURIComponent(grpcMessage('rate limit "x" exceeded')), 'rate limit "x" exceeded');
});

t.test('a gRPC call refused by sidegate gets grpc-status and grpc-message, not a JSON body', async (t) => {
  const key = testKey('ES256', 'k1');
  const idp = await JwksServer.start([key.jwk]);
  const app = await startGrpcServer();
  const policy = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: grpc-errors }
spec:
  auth:
    providers: [ { name: idp, issuer: "${idp.url}", algorithms: [ES256], jwks: { uri: "${idp.url}/jwks.json" } } ]
    rules: [ { match: { paths: [/sidegate.test.Echo/Unary] }, require: { claims: { role: [admin] } } } ]
`;
  const p = await startProxy(`h2c://127.0.0.1:${app.port}`, [], { policy });
  const { Echo } = loadProtos();
  const client = new Echo(`127.0.0.1:${p.proxy.port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, unknown>;
  t.teardown(async () => {
    client.close();
    await p.close();
    await app.close();
    await idp.stop();
  });
  const call = (md: grpc.Metadata): Promise<grpc.ServiceError | Msg> =>
    new Promise((resolve) => {
      (client.Unary as Unary).call(client, { text: 'hi', n: 1 }, md, {}, (e, m) => resolve(e ?? m!));
    });

  const noToken = (await call(new grpc.Metadata())) as grpc.ServiceError;
  t.equal(noToken.code, grpc.status.UNAUTHENTICATED, '401 → UNAUTHENTICATED');
  t.match(noToken.details, /^SIDEGATE_ERR_UNAUTHENTICATED: no token in the request$/, 'the code and message reach the client');
  t.equal(noToken.metadata.get('www-authenticate')[0], 'Bearer', "the error's headers come along as metadata");
  t.type(noToken.metadata.get('x-request-id')[0], 'string');

  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${await mint(key, { iss: idp.url, sub: 'u', role: 'user', exp: Math.floor(Date.now() / 1000) + 60 })}`);
  const noRole = (await call(md)) as grpc.ServiceError;
  t.equal(noRole.code, grpc.status.PERMISSION_DENIED, '403 → PERMISSION_DENIED');

  // On the wire: trailers-only (one HEADERS frame ending the stream, :status 200), no body.
  const session = connect(p.url);
  t.teardown(() => session.close());
  const raw = await h2request(
    session,
    { ':method': 'POST', ':path': '/sidegate.test.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers' },
    '',
  );
  t.equal(raw.headers[':status'], 200);
  t.equal(raw.headers['grpc-status'], '16');
  t.equal(raw.headers['content-type'], 'application/grpc');
  t.equal(raw.body, '');
  t.equal(raw.trailers, undefined, 'nothing after the one HEADERS frame');
  // The same refusal to a plain client stays JSON, and both are counted as the 401 they are.
  const json = await h2request(
    session,
    { ':method': 'POST', ':path': '/sidegate.test.Echo/Unary', 'content-type': 'application/json' },
    '{}',
  );
  t.equal(json.headers[':status'], 401);
  t.match(JSON.parse(json.body), { error: 'SIDEGATE_ERR_UNAUTHENTICATED' });
  const metrics = await (await request(`${p.adminUrl}/metrics`)).body.text();
  t.match(
    metrics,
    /sidegate_http_requests_total\{route="default",method="POST",status="401"\} 3/,
    'metrics keep the HTTP status sidegate decided',
  );
});
