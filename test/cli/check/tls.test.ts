/**
 * check's TLS verdicts against certificates made by openssl (a CA, an intermediate, leaves for a
 * Service name, an IP, a CN without subjectAltName) and a real TLS server on port 0: what the API
 * server's Go verification would accept, check accepts, and what it refuses, check names.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import t from 'tap';
import { fetchServingChain, parseCaBundle, parsePem, verifyServing } from '../../../cli/check/tls.js';
import { makeCa, makeLeaf, type CertPair } from '../../cluster/pki.js';
import { makeCert } from '../../injector/helpers/tls.js';

const dir = mkdtempSync(join(tmpdir(), 'sidegate-check-tls-'));
const SVC = 'sg-sidegate-injector.sidegate-system.svc';
const root = makeCa(dir, 'root', 'sidegate test root');
const other = makeCa(dir, 'other', 'another CA');
const leaf = makeLeaf(dir, 'leaf', root, '/CN=injector', 'serverAuth', `DNS:${SVC},IP:127.0.0.1`);
const cnOnly = makeLeaf(dir, 'cn-only', root, `/CN=${SVC}`, 'serverAuth');
const x509 = (p: CertPair | Buffer): X509Certificate => new X509Certificate(Buffer.isBuffer(p) ? p : p.cert);

/** An intermediate CA signed by `ca` (OpenSSL 3's req -x509 -CA). */
function intermediate(ca: CertPair): CertPair {
  const certFile = join(dir, 'mid.crt');
  const keyFile = join(dir, 'mid.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=sidegate intermediate',
      '-CA',
      ca.certFile,
      '-CAkey',
      ca.keyFile,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'pipe' },
  );
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}
const mid = intermediate(root);
const viaMid = makeLeaf(dir, 'via-mid', mid, '/CN=injector', 'serverAuth', `DNS:${SVC}`);

const now = new Date();
const later = new Date(Date.now() + 3 * 86_400_000);
const codes = (ps: readonly { code: string }[]): string[] => ps.map((p) => p.code);

t.test('caBundle: missing, not PEM, expired, usable', async (t) => {
  t.same(parseCaBundle(undefined, now), { ok: false, code: 'SIDEGATE_CHECK_CA_BUNDLE_MISSING', message: 'clientConfig.caBundle is empty' });
  t.match(parseCaBundle(Buffer.from('not a certificate').toString('base64'), now), {
    ok: false,
    code: 'SIDEGATE_CHECK_CA_BUNDLE_INVALID',
    message: /no PEM certificate/,
  });
  const bundle = Buffer.concat([root.cert, other.cert]).toString('base64');
  const ok = parseCaBundle(bundle, now);
  t.ok(ok.ok && ok.certs.length === 2, 'both CAs of a two-CA bundle (as during CA rotation)');
  t.match(parseCaBundle(bundle, later), {
    ok: false,
    code: 'SIDEGATE_CHECK_CA_BUNDLE_INVALID',
    message: /every certificate in the caBundle is outside its validity/,
  });
});

t.test('serving chains the API server accepts', async (t) => {
  t.same(verifyServing([x509(leaf)], [x509(root)], SVC, now), [], 'leaf signed by the CA, for the Service name');
  t.same(verifyServing([x509(leaf)], [x509(other), x509(root)], SVC, now), [], 'the CA is one of several');
  t.same(verifyServing([x509(leaf)], [x509(root)], '127.0.0.1', now), [], 'an IP in the subjectAltName, for a url webhook');
  t.same(verifyServing([x509(viaMid), x509(mid)], [x509(root)], SVC, now), [], 'through an intermediate the injector sends');
  const self = makeCert();
  // Judged at a time inside its validity: openssl starts it at the second it is made, which can be
  // after `now` (taken when this file started).
  const during = new Date(new X509Certificate(self.cert).validFrom).getTime() + 60_000;
  t.same(
    verifyServing([x509(self.cert)], [x509(self.cert)], 'localhost', new Date(during)),
    [],
    'a self-signed certificate that is itself the caBundle',
  );
});

t.test('serving chains the API server refuses, each named', async (t) => {
  t.same(codes(verifyServing([x509(leaf)], [x509(other)], SVC, now)), ['SIDEGATE_CHECK_CA_MISMATCH']);
  t.match(
    verifyServing([x509(leaf)], [x509(other)], SVC, now)[0]?.message,
    /issuer CN=sidegate test root\) is not signed by any CA in the caBundle \(CN=another CA\)/,
  );
  t.same(codes(verifyServing([x509(viaMid)], [x509(root)], SVC, now)), ['SIDEGATE_CHECK_CA_MISMATCH'], 'the intermediate not sent');
  t.same(codes(verifyServing([x509(leaf)], [x509(root)], 'other.sidegate-system.svc', now)), ['SIDEGATE_CHECK_SERVING_CERT_NAME']);
  t.same(
    codes(verifyServing([x509(cnOnly)], [x509(root)], SVC, now)),
    ['SIDEGATE_CHECK_SERVING_CERT_NAME'],
    'a CN without subjectAltName does not count (Go since 1.15)',
  );
  t.same(codes(verifyServing([x509(leaf)], [x509(root)], SVC, later)), ['SIDEGATE_CHECK_SERVING_CERT_EXPIRED']);
  t.same(codes(verifyServing([], [x509(root)], SVC, now)), ['SIDEGATE_CHECK_CA_MISMATCH'], 'no certificate at all');
});

t.test('fetching the chain from a real TLS server', async (t) => {
  const server = createTlsServer({ cert: Buffer.concat([viaMid.cert, mid.cert]), key: viaMid.key }, (s) => s.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  const chain = await fetchServingChain('127.0.0.1', port, SVC, 2000);
  t.equal(chain[0]?.fingerprint256, x509(viaMid).fingerprint256, 'leaf first');
  t.equal(chain[1]?.fingerprint256, x509(mid).fingerprint256, 'then the intermediate it sent');
  t.same(verifyServing(chain, [x509(root)], SVC, now), []);
  t.same(
    parsePem(Buffer.concat([viaMid.cert, mid.cert]).toString()).certs.map((c) => c.fingerprint256),
    chain.slice(0, 2).map((c) => c.fingerprint256),
    'the same as the PEM it serves',
  );

  const closed = createNetServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  await t.rejects(fetchServingChain('127.0.0.1', closedPort, SVC, 2000), /ECONNREFUSED/);

  // A listener that accepts and never speaks TLS.
  const held: Socket[] = [];
  const silent: Server = createNetServer((s) => {
    held.push(s);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of held) s.destroy();
    silent.close();
  });
  await t.rejects(fetchServingChain('127.0.0.1', (silent.address() as AddressInfo).port, SVC, 200), /no TLS handshake within 200 ms/);
});
