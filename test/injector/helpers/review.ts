/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are arbitrary JSON in these tests */
import { request } from 'node:https';

/** Wraps an object in an AdmissionReview v1 request, as the API server sends it. */
export function admissionReview(
  object: unknown,
  opts: { uid?: string; kind?: string; group?: string; namespace?: string; operation?: string } = {},
): Record<string, unknown> {
  const kind = opts.kind ?? 'Pod';
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: opts.uid ?? '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: opts.group ?? '', version: 'v1', kind },
      resource: { group: opts.group ?? '', version: 'v1', resource: `${kind.toLowerCase()}s` },
      requestKind: { group: opts.group ?? '', version: 'v1', kind },
      namespace: opts.namespace,
      operation: opts.operation ?? 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

export interface HttpsReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** POSTs raw bytes over HTTPS, trusting only the given CA. */
export function postRaw(
  port: number,
  path: string,
  body: string | Buffer,
  ca: Buffer,
  headers: Record<string, string> = { 'content-type': 'application/json' },
  method = 'POST',
): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', servername: 'localhost', port, path, method, ca, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function postReview(port: number, path: string, review: unknown, ca: Buffer): Promise<any> {
  const r = await postRaw(port, path, JSON.stringify(review), ca);
  if (r.status !== 200) throw new Error(`${path} answered ${r.status}: ${r.body}`);
  return JSON.parse(r.body);
}
