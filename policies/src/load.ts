/**
 * Reading policy files: YAML or JSON (JSON is YAML), one document per file. Operators keep
 * policies in ConfigMaps, so a ConfigMap manifest whose data["policy.yaml"] holds the Policy is
 * accepted too (the sidecar itself sees the mounted key, i.e. the bare Policy).
 */
import { readFile } from 'node:fs/promises';
import { isScalar, parseAllDocuments, type Document } from 'yaml';
import { isPlainObject } from './merge.js';
import { escapeControls } from './problems.js';
import type { PolicyProblem } from './types.js';

export type LoadResult = { readonly ok: true; readonly doc: unknown } | { readonly ok: false; readonly problems: readonly PolicyProblem[] };

/** The ConfigMap key that holds a policy. */
export const CONFIGMAP_POLICY_KEY = 'policy.yaml';

function yamlProblems(doc: Document.Parsed, where: string): PolicyProblem[] {
  return doc.errors.map((e) => {
    const pos = e.linePos?.[0];
    // yaml's messages end with a code excerpt after the first line; the position says enough.
    // The token they quote may hold control characters JSON leaves raw (DEL, C1): escaped.
    const message = escapeControls(e.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? e.code);
    return { path: '', message: `${where}${pos === undefined ? '' : `line ${pos.line}, column ${pos.col}: `}${message}` };
  });
}

function parseOne(text: string, where: string): LoadResult {
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  // parseAllDocuments returns an EmptyStream (no documents) for empty or comment-only text.
  const list = Array.isArray(docs) ? docs : [];
  const problems = list.flatMap((d) => yamlProblems(d, where));
  if (problems.length > 0) return { ok: false, problems };
  // A trailing `---` leaves an empty document behind; only documents with content count.
  const nonEmpty = list.filter((d) => d.contents !== null && !(isScalar(d.contents) && d.contents.value === null));
  if (nonEmpty.length === 0) return { ok: false, problems: [{ path: '', message: `${where}no policy: the document is empty` }] };
  if (nonEmpty.length > 1) {
    return { ok: false, problems: [{ path: '', message: `${where}expected one document, found ${nonEmpty.length} (separated by ---)` }] };
  }
  try {
    // A low alias budget: policies have no use for YAML alias expansion bombs.
    return { ok: true, doc: nonEmpty[0]?.toJS({ maxAliasCount: 100 }) as unknown };
  } catch (err) {
    return { ok: false, problems: [{ path: '', message: `${where}${escapeControls((err as Error).message)}` }] };
  }
}

/**
 * Parses policy text (YAML or JSON). A YAML syntax error becomes a problem with its line and
 * column; a ConfigMap is unwrapped to its data["policy.yaml"].
 */
export function parsePolicyText(text: string): LoadResult {
  const outer = parseOne(text, '');
  if (!outer.ok || !isPlainObject(outer.doc) || outer.doc.kind !== 'ConfigMap') return outer;
  const data = outer.doc.data;
  const inner = isPlainObject(data) ? data[CONFIGMAP_POLICY_KEY] : undefined;
  if (typeof inner !== 'string') {
    return {
      ok: false,
      problems: [{ path: `/data/${CONFIGMAP_POLICY_KEY}`, message: 'is required: a ConfigMap holding a policy keeps it under this key' }],
    };
  }
  return parseOne(inner, `in data["${CONFIGMAP_POLICY_KEY}"]: `);
}

/** Reads and parses a policy file (see parsePolicyText). */
export async function loadPolicyFile(path: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ok: false, problems: [{ path: '', message: `cannot read the file: ${e.code ?? e.message}` }] };
  }
  return parsePolicyText(text);
}
