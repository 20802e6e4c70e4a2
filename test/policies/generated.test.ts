// The committed validator must be exactly what the generator makes from the committed schema.
// After editing policies/policy.v1.schema.json run: npm run generate
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GENERATED_PATH, generateValidatorSource, readSchema, repoRoot } from '../../policies/scripts/generate.js';

void t.test('the committed validator is up to date with the schema', (t) => {
  const root = repoRoot();
  const committed = readFileSync(join(root, GENERATED_PATH), 'utf8');
  const fresh = generateValidatorSource(readSchema(root));
  t.ok(committed === fresh, `${GENERATED_PATH} is stale: run npm run generate (node dist/policies/scripts/generate.js)`);
  t.end();
});

void t.test('the generated module is stamped with its regeneration command and compiles nothing at run time', (t) => {
  const text = readFileSync(join(repoRoot(), GENERATED_PATH), 'utf8');
  t.match(text.split('\n').slice(0, 4).join('\n'), /@ts-nocheck[\s\S]*npm run generate/);
  // t.ok on booleans: the file is 150 KB, a failing t.match would print all of it.
  t.notOk(/^import (?!type )[^;]*from ['"]ajv['"]/m.test(text), 'no run-time import of the ajv compiler');
  t.notOk(/new Ajv\b|\.compile\(/.test(text), 'no schema compilation at run time');
  t.end();
});

void t.test('a schema change changes the generated code', (t) => {
  const schema = readSchema() as { definitions: { duration: { pattern: string } } };
  const before = generateValidatorSource(schema);
  schema.definitions.duration.pattern = '^[0-9]+s$';
  t.not(generateValidatorSource(schema), before);
  t.end();
});
