/**
 * The e2e identity provider: an ES256 key, its JWKS (served in the kind cluster) and a token for
 * the demo service. Run after the build: node dist/test/charts/e2e/mint.js OUT_DIR ISSUER AUDIENCE
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

async function main(): Promise<void> {
  const [out, issuer, audience] = process.argv.slice(2);
  if (out === undefined || issuer === undefined || audience === undefined) {
    console.error('usage: mint.js OUT_DIR ISSUER AUDIENCE');
    process.exit(2);
  }
  const kid = 'e2e-1';
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  writeFileSync(join(out, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
  const token = await new SignJWT({ scope: 'demo' })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
    .setIssuer(issuer).setAudience(audience).setSubject('e2e-user')
    .setIssuedAt().setExpirationTime('2h')
    .sign(privateKey);
  writeFileSync(join(out, 'token'), token);
  console.log(`wrote ${join(out, 'jwks.json')} and ${join(out, 'token')}`);
}

// `npx tap dist/test/charts` runs every file of the folder: under tap this script has nothing to do.
if (process.env.TAP !== '1') main().catch((e: unknown) => { console.error(e); process.exit(1); });
