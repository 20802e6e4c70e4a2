/**
 * docs/annotations.md, policies/annotations.schema.json and the parser's table (ANNOTATIONS) list
 * the same annotations with the same defaults; the schema accepts every documented example and
 * refuses values the parser refuses where a schema can tell.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import t from 'tap';
import { ANNOTATIONS, parseAnnotations } from '../../injector/src/annotations.js';
import { SKIP_REASONS } from '../../injector/src/decide.js';

const root = (p: string): string => fileURLToPath(new URL(`../../../${p}`, import.meta.url));
const doc = readFileSync(root('docs/annotations.md'), 'utf8');
const schema = JSON.parse(readFileSync(root('policies/annotations.schema.json'), 'utf8')) as { properties: Record<string, unknown> };

void t.test('every annotation is documented with its default', async (t) => {
  const rows = doc.split('\n').filter((l) => /^\| `sidegate\.dev\/[a-z-]+` \|/.test(l));
  const documented = rows.map((l) => /`sidegate\.dev\/([a-z-]+)`/.exec(l)?.[1]);
  t.same(
    documented,
    ANNOTATIONS.map((a) => a.name),
    "docs table lists exactly the parser's annotations, in order",
  );
  for (const a of ANNOTATIONS) {
    const row = rows.find((l) => l.startsWith(`| \`sidegate.dev/${a.name}\` |`)) ?? '';
    const cells = row.split(/(?<!\\)\|/).map((c) => c.trim());
    t.equal(cells[2], a.default, `${a.name}: default in docs`);
  }
  for (const code of SKIP_REASONS) t.match(doc, `| \`${code}\` |`, `skip reason ${code} documented`);
  await Promise.resolve();
});

void t.test('the schema lists the same annotations and agrees on examples', async (t) => {
  const names = Object.keys(schema.properties).filter((k) => k !== 'sidegate.dev/status');
  t.same(
    names,
    ANNOTATIONS.map((a) => `sidegate.dev/${a.name}`),
  );
  const validate = new Ajv({ strict: false }).compile(schema);
  for (const a of ANNOTATIONS) {
    const ann = { [`sidegate.dev/${a.name}`]: a.example };
    t.ok(validate(ann), `schema accepts the example of ${a.name}`);
    const extra: Record<string, string> =
      a.name === 'jwks-uri' || a.name === 'jwt-audiences' ? { 'sidegate.dev/jwt-issuer': 'https://id.example.com' } : {};
    t.same(parseAnnotations({ ...ann, ...extra }).problems.errors, [], `parser accepts the example of ${a.name}`);
  }
  const bad: Record<string, string> = {
    'app-port': '70000',
    'app-protocol': 'http3',
    'proxy-cpu': 'lots',
    'proxy-memory': '12XB',
    interception: 'ebpf',
    'inbound-ports': '80,abc',
    'exclude-inbound-ports': '65536',
    policy: 'Bad_Name',
    'jwt-issuer': 'id.example.com',
    'public-paths': 'healthz',
    'rate-limit': 'fast',
    maintenance: 'maybe',
  };
  for (const [name, value] of Object.entries(bad)) {
    const ann = { [`sidegate.dev/${name}`]: value };
    t.notOk(validate(ann), `schema refuses ${name}: ${value}`);
    t.not(parseAnnotations(ann).problems.errors.length, 0, `parser refuses ${name}: ${value}`);
  }
  await Promise.resolve();
});
