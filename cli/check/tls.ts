/**
 * The webhook's TLS as the API server sees it: the caBundle it trusts, the certificate chain the
 * injector serves (fetched over TLS, or read from the injector's Secret), and whether the first
 * verifies the second for the name the API server dials. Verification follows Go's crypto/x509,
 * which the API server uses: the name must be a subjectAltName (the subject's CN is not
 * consulted), a certificate that is itself in the bundle is trusted, and intermediates the
 * injector sends may link the leaf to a CA in the bundle.
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { connect } from 'node:tls';
import type { FindingCode } from './findings.js';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every certificate in a PEM text; blocks that do not parse are counted, not thrown. */
export function parsePem(pem: string): { certs: X509Certificate[]; unreadable: number } {
  const certs: X509Certificate[] = [];
  let unreadable = 0;
  for (const block of pem.match(PEM_CERT) ?? []) {
    try {
      certs.push(new X509Certificate(block));
    } catch {
      unreadable++;
    }
  }
  return { certs, unreadable };
}

const validAt = (c: X509Certificate, now: Date): boolean => new Date(c.validFrom) <= now && now <= new Date(c.validTo);

export type CaBundle =
  | { readonly ok: true; readonly certs: readonly X509Certificate[] }
  | {
      readonly ok: false;
      readonly code: Extract<FindingCode, 'SIDEGATE_CHECK_CA_BUNDLE_MISSING' | 'SIDEGATE_CHECK_CA_BUNDLE_INVALID'>;
      readonly message: string;
    };

/** clientConfig.caBundle (base64 of PEM) → the certificates the API server would trust now. */
export function parseCaBundle(b64: string | undefined, now: Date): CaBundle {
  if (b64 === undefined || b64 === '')
    return { ok: false, code: 'SIDEGATE_CHECK_CA_BUNDLE_MISSING', message: 'clientConfig.caBundle is empty' };
  const { certs, unreadable } = parsePem(Buffer.from(b64, 'base64').toString('utf8'));
  if (certs.length === 0) {
    return {
      ok: false,
      code: 'SIDEGATE_CHECK_CA_BUNDLE_INVALID',
      message: `caBundle holds no PEM certificate${unreadable > 0 ? ` (${unreadable} unreadable)` : ''}`,
    };
  }
  const valid = certs.filter((c) => validAt(c, now));
  if (valid.length === 0) {
    return {
      ok: false,
      code: 'SIDEGATE_CHECK_CA_BUNDLE_INVALID',
      message: `every certificate in the caBundle is outside its validity (${certs.map(describe).join('; ')})`,
    };
  }
  return { ok: true, certs: valid };
}

export function describe(c: X509Certificate): string {
  return `${c.subject.replace(/\n/g, ', ')}, valid ${new Date(c.validFrom).toISOString()} to ${new Date(c.validTo).toISOString()}`;
}

const signs = (issuer: X509Certificate, cert: X509Certificate): boolean => cert.checkIssued(issuer) && cert.verify(issuer.publicKey);

export interface ServingProblem {
  readonly code: Extract<
    FindingCode,
    'SIDEGATE_CHECK_CA_MISMATCH' | 'SIDEGATE_CHECK_SERVING_CERT_EXPIRED' | 'SIDEGATE_CHECK_SERVING_CERT_NAME'
  >;
  readonly message: string;
}

/** What would make the API server refuse `chain` (leaf first) for `name`; empty: it would accept it. */
export function verifyServing(
  chain: readonly X509Certificate[],
  cas: readonly X509Certificate[],
  name: string,
  now: Date,
): ServingProblem[] {
  const leaf = chain[0];
  if (leaf === undefined) return [{ code: 'SIDEGATE_CHECK_CA_MISMATCH', message: 'the injector sent no certificate' }];
  const problems: ServingProblem[] = [];
  if (!linksToBundle(chain, cas)) {
    problems.push({
      code: 'SIDEGATE_CHECK_CA_MISMATCH',
      message: `serving certificate (${describe(leaf)}; issuer ${leaf.issuer.replace(/\n/g, ', ')}) is not signed by any CA in the caBundle (${cas.map((c) => c.subject.replace(/\n/g, ', ')).join('; ')})`,
    });
  }
  const expired = chain.filter((c) => !validAt(c, now));
  if (expired.length > 0) {
    problems.push({ code: 'SIDEGATE_CHECK_SERVING_CERT_EXPIRED', message: `outside its validity: ${expired.map(describe).join('; ')}` });
  }
  const matches = isIP(name) !== 0 ? leaf.checkIP(name) !== undefined : leaf.checkHost(name, { subject: 'never' }) !== undefined;
  if (!matches) {
    problems.push({
      code: 'SIDEGATE_CHECK_SERVING_CERT_NAME',
      message: `the API server dials ${name}, and the serving certificate names ${leaf.subjectAltName ?? 'no subjectAltName'}`,
    });
  }
  return problems;
}

function linksToBundle(chain: readonly X509Certificate[], cas: readonly X509Certificate[]): boolean {
  let cur = chain[0];
  for (let depth = 0; cur !== undefined && depth < 8; depth++) {
    const c: X509Certificate = cur;
    if (cas.some((ca) => ca.fingerprint256 === c.fingerprint256 || signs(ca, c))) return true;
    cur = chain.find((x) => x !== c && signs(x, c));
  }
  return false;
}

/**
 * The chain a TLS server at host:port presents for `servername`, leaf first, unverified (the
 * verification is verifyServing's, against the caBundle). No SNI for an IP, as Go sends none.
 */
export function fetchServingChain(host: string, port: number, servername: string, timeoutMs: number): Promise<X509Certificate[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, rejectUnauthorized: false, ...(isIP(servername) === 0 ? { servername } : {}) });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no TLS handshake within ${timeoutMs} ms`)));
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const chain: X509Certificate[] = [];
      const seen = new Set<string>();
      for (let c = socket.getPeerCertificate(true); c?.raw !== undefined && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
        seen.add(c.fingerprint256);
        chain.push(new X509Certificate(c.raw));
      }
      socket.end();
      resolve(chain);
    });
  });
}
