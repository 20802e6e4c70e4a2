import { execFileSync } from 'node:child_process';
import t from 'tap';

/**
 * ioredis (`class VerbatimString extends String`) leaves String.prototype in dictionary mode, and
 * every string method call in optimized code then takes V8's generic LoadIC path
 * (sidecar/src/lifecycle/fast-prototypes.ts). V8's own answer, through --allow-natives-syntax.
 */
const mod = new URL('../../sidecar/src/lifecycle/fast-prototypes.js', import.meta.url).href;

function stringPrototypeIsFast(restore: boolean): string {
  const script = `import 'ioredis';
import { restoreFastPrototypes } from ${JSON.stringify(mod)};
${restore ? 'restoreFastPrototypes();' : ''}
process.stdout.write(String(%HasFastProperties(String.prototype)));`;
  return execFileSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8' });
}

t.equal(stringPrototypeIsFast(false), 'false', 'loading ioredis turns String.prototype into a dictionary (the V8 behaviour worked around)');
t.equal(stringPrototypeIsFast(true), 'true', 'restoreFastPrototypes() makes it fast again');
