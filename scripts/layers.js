// @ts-check
/**
 * Which way imports may point between the layers of the code (issue #25): the protocol library
 * at the bottom, the stages and the upstream clients on it, the app (`inbound/`, `proxy.ts`,
 * `explain/`) assembling them on top. One table, read by `eslint.config.js` (rule
 * `sidegate/layers`: the lint fails on a wrong-way import) and by `test/repo/layers.test.ts`.
 * Paths are relative to the repository's root; only relative imports are judged (packages and
 * `node:` modules are `test/repo/dependencies.test.ts`'s business).
 *
 * @typedef {{ readonly layer: string, readonly only?: readonly string[], readonly not?: readonly string[], readonly except?: readonly string[], readonly why: string }} Layer
 */

/** @type {readonly Layer[]} */
export const LAYERS = [
  {
    layer: 'sidecar/src/protocol/',
    only: ['sidecar/src/protocol/'],
    why: 'the protocol library (sidecar/src/protocol/) imports nothing outside itself: the app, the stages and the upstream clients import it, never the other way; pass what it needs in (see protocol/front.ts)',
  },
  {
    layer: 'sidecar/src/pipeline/',
    not: ['sidecar/src/inbound/', 'sidecar/src/stages/', 'sidecar/src/upstream/'],
    why: 'pipeline/ is the stage framework: the pipeline is assembled in inbound/, not here',
  },
  {
    layer: 'sidecar/src/stages/',
    not: ['sidecar/src/inbound/'],
    why: 'the stages are assembled by the app (inbound/), never the other way',
  },
  {
    layer: 'sidecar/src/upstream/',
    not: ['sidecar/src/inbound/', 'sidecar/src/stages/'],
    why: 'the upstream clients are used by the stages and the app, never the other way',
  },
  {
    layer: 'policies/src/',
    not: ['sidecar/', 'injector/', 'cli/'],
    except: ['sidecar/src/protocol/'],
    why: 'the policy compiler may use the protocol library (sidecar/src/protocol/) but nothing else of the sidecar, the injector or the CLI',
  },
];

/**
 * Why the file `from` may not import the file `to` (both relative to the root, `/`-separated,
 * `to` resolved), or undefined when it may.
 * @param {string} from
 * @param {string} to
 * @returns {string | undefined}
 */
export function wrongWay(from, to) {
  for (const l of LAYERS) {
    if (!from.startsWith(l.layer)) continue;
    if (l.only !== undefined && !l.only.some((p) => to.startsWith(p))) return l.why;
    if (l.not !== undefined && l.not.some((p) => to.startsWith(p)) && !(l.except ?? []).some((p) => to.startsWith(p))) return l.why;
  }
  return undefined;
}
