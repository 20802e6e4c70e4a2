/**
 * A helm post-renderer (run by the `sidegate-webhook-url` plugin that test/cluster/helm.ts writes):
 * reads the rendered manifests on stdin and changes, in every webhook of every
 * Mutating/ValidatingWebhookConfiguration, `clientConfig` only: the chart's Service reference
 * becomes a `url` on 127.0.0.1 with the same path, served by the injector a test started, and the
 * caBundle becomes that injector's CA. Everything else goes to the apiserver as the chart rendered it.
 * Usage: webhook-url-renderer.js BASE_URL CA_FILE   (BASE_URL like https://127.0.0.1:PORT)
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments, stringify } from 'yaml';

const [base, caFile] = process.argv.slice(2);
if (base === undefined || caFile === undefined || !/^https:\/\/127\.0\.0\.1:\d+$/.test(base)) {
  process.stderr.write('usage: webhook-url-renderer.js https://127.0.0.1:PORT CA_FILE\n');
  process.exit(2);
}
const caBundle = readFileSync(caFile).toString('base64');

interface Webhook {
  name: string;
  clientConfig: { service?: { path?: string }; url?: string; caBundle?: string };
}
const out: string[] = [];
for (const doc of parseAllDocuments(readFileSync(0, 'utf8'))) {
  const o = doc.toJS() as { kind?: string; webhooks?: Webhook[] } | null;
  if (o === null) continue;
  if ((o.kind === 'MutatingWebhookConfiguration' || o.kind === 'ValidatingWebhookConfiguration') && o.webhooks !== undefined) {
    for (const w of o.webhooks) {
      const path = w.clientConfig.service?.path ?? '/';
      w.clientConfig = { url: `${base}${path}`, caBundle };
    }
  }
  out.push(stringify(o));
}
process.stdout.write(out.join('---\n'));
