import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One certificate and its key, as files (what the Kubernetes binaries take) and as PEM. */
export interface CertPair {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * The control plane's PKI, laid out as kubeadm lays out /etc/kubernetes/pki, in `dir`: one CA that
 * signs the apiserver's serving certificate and every client certificate (the apiserver trusts it
 * with --client-ca-file), and the service-account signing key pair. Everything lives one day.
 */
export interface ControlPlanePki {
  readonly ca: CertPair;
  readonly apiserver: CertPair;
  /** CN=kubernetes-admin, O=system:masters: the tests' and kwok's identity. */
  readonly admin: CertPair;
  /** CN=system:kube-controller-manager and CN=system:kube-scheduler: the identities the bootstrap RBAC roles name. */
  readonly controllerManager: CertPair;
  readonly scheduler: CertPair;
  readonly serviceAccountKeyFile: string;
  readonly serviceAccountPubFile: string;
}

export function makePki(dir: string): ControlPlanePki {
  const ca = makeCa(dir, 'ca', 'sidegate-test-ca');
  const leaf = (name: string, subject: string, usage: 'serverAuth' | 'clientAuth', san?: string): CertPair =>
    makeLeaf(dir, name, ca, subject, usage, san);
  // The names in-cluster clients use, though here only 127.0.0.1 is ever dialled.
  const apiserver = leaf(
    'apiserver',
    '/CN=kube-apiserver',
    'serverAuth',
    'DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1',
  );
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const serviceAccountKeyFile = join(dir, 'sa.key');
  const serviceAccountPubFile = join(dir, 'sa.pub');
  writeFileSync(serviceAccountKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(serviceAccountPubFile, publicKey.export({ type: 'spki', format: 'pem' }));
  return {
    ca,
    apiserver,
    admin: leaf('admin', '/O=system:masters/CN=kubernetes-admin', 'clientAuth'),
    controllerManager: leaf('controller-manager', '/CN=system:kube-controller-manager', 'clientAuth'),
    scheduler: leaf('scheduler', '/CN=system:kube-scheduler', 'clientAuth'),
    serviceAccountKeyFile,
    serviceAccountPubFile,
  };
}

/** A CA certificate (one day), written as DIR/NAME.crt and .key. */
export function makeCa(dir: string, name: string, cn: string): CertPair {
  return openssl(dir, name, `/CN=${cn}`, [
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
}

/** A certificate signed by `ca` for `usage`, with subjectAltName `san` ("DNS:x,IP:y") if given. */
export function makeLeaf(
  dir: string,
  name: string,
  ca: CertPair,
  subject: string,
  usage: 'serverAuth' | 'clientAuth',
  san?: string,
): CertPair {
  return openssl(dir, name, subject, [
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-addext',
    'basicConstraints=critical,CA:FALSE',
    '-addext',
    'keyUsage=critical,digitalSignature',
    '-addext',
    `extendedKeyUsage=${usage}`,
    ...(san === undefined ? [] : ['-addext', `subjectAltName=${san}`]),
  ]);
}

/** `openssl req -x509`: self-signed, or signed by `-CA` when the extra arguments name one (OpenSSL 3). */
function openssl(dir: string, name: string, subject: string, extra: readonly string[]): CertPair {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  try {
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
        subject,
        '-keyout',
        keyFile,
        '-out',
        certFile,
        ...extra,
      ],
      { stdio: 'pipe' },
    );
  } catch (err) {
    throw new Error(`openssl failed making ${name}.crt (OpenSSL 3 is needed: apt-get install -y openssl): ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}
