import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCert {
  /** Holds `tls.crt` and `tls.key`, the names a Kubernetes TLS secret mounts. */
  dir: string;
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

/** A fresh self-signed certificate for localhost/127.0.0.1 (subject `/CN=<cn>`), made by the openssl CLI. */
export function makeCert(dir = mkdtempSync(join(tmpdir(), 'sidegate-tls-')), cn = 'localhost'): TestCert {
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
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
        `/CN=${cn}`,
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        keyFile,
        '-out',
        certFile,
      ],
      { stdio: 'pipe' },
    );
  } catch (err) {
    throw new Error(`openssl failed (install it with apt-get install -y openssl): ${(err as Error).message}`, { cause: err });
  }
  return { dir, certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

/** `makeCert()` for localhost in a directory of its own. */
export function selfSigned(): TestCert {
  return makeCert();
}
