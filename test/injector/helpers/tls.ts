import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCert {
  dir: string;
  certFile: string;
  keyFile: string;
  cert: Buffer;
}

/** A self-signed certificate for localhost/127.0.0.1, made with the openssl binary. */
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
  } catch (e) {
    throw new Error(`openssl failed (apt-get install -y openssl): ${(e as Error).message}`, { cause: e });
  }
  return { dir, certFile, keyFile, cert: readFileSync(certFile) };
}
