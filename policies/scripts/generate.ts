/**
 * Generates policies/src/generated/validate-policy.ts: the policy schema compiled by ajv into
 * standalone validation code, so the sidecar never compiles a schema at start (fastify and undici
 * do the same). Run `npm run generate` (= `node dist/policies/scripts/generate.js`) after editing
 * policies/policy.v1.schema.json; a test fails when the committed file is stale.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import standaloneModule from 'ajv/dist/standalone/index.js';

export const SCHEMA_PATH = 'policies/policy.v1.schema.json';
export const GENERATED_PATH = 'policies/src/generated/validate-policy.ts';

// ajv/dist/standalone is CommonJS with `exports.default`; under nodenext the default import is
// the module object.
const standaloneCode = standaloneModule.default;

/** The repository root: the nearest ancestor of this file holding package.json. */
export function repoRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
  return dir;
}

/** The generated module's full text for a schema (deterministic for a given ajv version). */
export function generateValidatorSource(schema: unknown): string {
  const ajv = new Ajv({
    allErrors: true,
    useDefaults: true,
    strict: true,
    allowUnionTypes: true,
    // Errors carry their parent schema (for errorMessage and the allowed field names) and data.
    verbose: true,
    code: { source: true, esm: true },
  });
  // errorMessage holds per-keyword messages (the ajv-errors convention); here only an annotation
  // that policies/src/problems.ts reads from each error's parentSchema.
  ajv.addKeyword({ keyword: 'errorMessage', schemaType: ['string', 'object'] });
  const validate = ajv.compile(schema as object);
  let code = standaloneCode(ajv, validate);
  // Even in ESM mode ajv emits require() for its runtime helpers; give the module a require.
  if (code.includes('require(')) {
    code = `import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\n${code}`;
  }
  code = code.replace(/^"use strict";/, '').replace(/export default [A-Za-z0-9_]+;/, '');
  return [
    '/* eslint-disable */',
    '// @ts-nocheck',
    `// GENERATED from ${SCHEMA_PATH} by \`npm run generate\` (node dist/policies/scripts/generate.js).`,
    '// Do not edit: edit the schema and regenerate. A test fails when this file is stale.',
    "import type { ErrorObject } from 'ajv';",
    code.trimEnd(),
    '',
    '/** Validates a policy document in place: fills in defaults, leaves errors on `.errors`. */',
    'export const validatePolicyDocument: { (data: unknown): boolean; errors?: ErrorObject[] | null } = validate;',
    '',
  ].join('\n');
}

export function readSchema(root = repoRoot()): unknown {
  return JSON.parse(readFileSync(join(root, SCHEMA_PATH), 'utf8')) as unknown;
}

function main(): void {
  const root = repoRoot();
  const out = join(root, GENERATED_PATH);
  const source = generateValidatorSource(readSchema(root));
  const before = existsSync(out) ? readFileSync(out, 'utf8') : '';
  if (before === source) {
    process.stdout.write(`${GENERATED_PATH}: up to date\n`);
    return;
  }
  writeFileSync(out, source);
  process.stdout.write(`${GENERATED_PATH}: written (${source.length} bytes)\n`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
