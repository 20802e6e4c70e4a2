import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parse as legacyUrlParse } from 'node:url';

/**
 * How common app routers read the request target the app received: the path each one routes on.
 * Each model is a reading, not a whole framework: the path a router would hand to its route
 * matching, or undefined when that router refuses the target outright (answers 400 itself).
 *
 * Models are pluggable: `routerModels()` builds the default set; tests take any RouterModel[].
 * Strings are byte strings (one char per byte), as the app received them.
 */
export interface RouterModel {
  readonly name: string;
  /** The path this router routes on, or undefined if it refuses the target. */
  read(target: string): string | undefined | Promise<string | undefined>;
  /** Route matching ignores case (Express's default): a policy-writing concern, reported apart. */
  readonly caseInsensitive?: boolean;
  /** A trailing slash is optional when matching (Express's non-strict routing): reported apart. */
  readonly optionalTrailingSlash?: boolean;
  /** The reading drops a trailing slash (path.Clean, normpath): a trailing-slash-only difference is reported apart. */
  readonly dropsTrailingSlash?: boolean;
  close?(): Promise<void>;
}

// --- Express: parseurl

/** What parseurl exports (the module Express uses for req.path). */
type ParseUrl = (req: { url: string }) => { pathname: string | null } | undefined;

/**
 * parseurl's `fastparse` (parseurl 1.3.3, index.js), ported: a target starting with `/` and free
 * of TAB, LF, FF, CR, SP, `#`, U+00A0 and U+FEFF is split at the first `?`; anything else goes to
 * Node's legacy `url.parse` (which drops `#...`, trims whitespace, escapes spaces and turns `\`
 * before the query into `/`). Express then matches routes on that pathname, undecoded.
 */
export function parseurlPathname(str: string): string | undefined {
  const legacy = (): string | undefined => {
    try {
      return legacyUrlParse(str).pathname ?? undefined;
    } catch {
      return undefined;
    }
  };
  if (str.charCodeAt(0) !== 0x2f) return legacy();
  let pathname = str;
  let searched = false;
  for (let i = 1; i < str.length; i++) {
    switch (str.charCodeAt(i)) {
      case 0x3f:
        if (!searched) {
          pathname = str.substring(0, i);
          searched = true;
        }
        break;
      case 0x09:
      case 0x0a:
      case 0x0c:
      case 0x0d:
      case 0x20:
      case 0x23:
      case 0xa0:
      case 0xfeff:
        return legacy();
    }
  }
  return pathname;
}

/** Express's reading: the real `parseurl` when it is installed, else the port above. */
export async function expressModel(): Promise<RouterModel> {
  let real: ParseUrl | undefined;
  const specifier = 'parseurl';
  try {
    const m = (await import(specifier)) as { default?: ParseUrl };
    real = m.default;
  } catch {
    /* not installed: the port */
  }
  return {
    name: real === undefined ? 'express (parseurl port)' : 'express (parseurl)',
    caseInsensitive: true,
    optionalTrailingSlash: true,
    read: (t) => {
      if (real === undefined) return parseurlPathname(t);
      try {
        return real({ url: t })?.pathname ?? undefined;
      } catch {
        return undefined;
      }
    },
  };
}

// --- WHATWG URL (Node's URL, browsers, undici, many Node frameworks)

/** `new URL(target, 'http://x').pathname`: dot segments (also `%2e`) resolved, `\` is `/`, TAB/LF/CR removed, `#` cut. */
export const whatwgModel: RouterModel = {
  name: 'whatwg URL',
  read: (t) => {
    try {
      return new URL(t, 'http://x').pathname;
    } catch {
      return undefined;
    }
  },
};

// --- Go: net/url.Parse, then path.Clean of the unescaped path

const isHex = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
const hexVal = (c: number): number => (c <= 57 ? c - 48 : (c | 0x20) - 87);

/** Go's `url.PathUnescape` (unescape in encodePathSegment mode): every `%` needs two hex digits; `+` stays. */
export function goPathUnescape(s: string): string | undefined {
  for (let i = 0; i < s.length;) {
    if (s.charCodeAt(i) === 0x25) {
      if (i + 2 >= s.length || !isHex(s.charCodeAt(i + 1)) || !isHex(s.charCodeAt(i + 2))) return undefined;
      i += 3;
    } else {
      i++;
    }
  }
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) === 0x25) {
      out += String.fromCharCode(hexVal(s.charCodeAt(i + 1)) * 16 + hexVal(s.charCodeAt(i + 2)));
      i += 2;
    } else out += s[i];
  }
  return out;
}

/** Go's `path.Clean`, byte for byte (lazybuf included in spirit: the result is the same string). */
export function goPathClean(path: string): string {
  if (path === '') return '.';
  const rooted = path.charCodeAt(0) === 0x2f;
  const n = path.length;
  const out: string[] = [];
  let r = 0;
  let dotdot = 0;
  if (rooted) {
    out.push('/');
    r = 1;
    dotdot = 1;
  }
  while (r < n) {
    const c = path[r];
    if (c === '/') {
      r++;
    } else if (c === '.' && (r + 1 === n || path[r + 1] === '/')) {
      r++;
    } else if (c === '.' && path[r + 1] === '.' && (r + 2 === n || path[r + 2] === '/')) {
      r += 2;
      if (out.length > dotdot) {
        // Go: w--; for w > dotdot && out[w] != '/' { w-- } (the slash before the segment goes too).
        let w = out.length - 1;
        while (w > dotdot && out[w] !== '/') w--;
        out.length = w;
      } else if (!rooted) {
        if (out.length > 0) out.push('/');
        out.push('.', '.');
        dotdot = out.length;
      }
    } else {
      if ((rooted && out.length !== 1) || (!rooted && out.length !== 0)) out.push('/');
      for (; r < n && path[r] !== '/'; r++) out.push(path[r]!);
    }
  }
  if (out.length === 0) return '.';
  return out.join('');
}

/** Go's `getScheme`. */
function goGetScheme(raw: string): { scheme: string; rest: string } | undefined {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) continue;
    if ((c >= 48 && c <= 57) || c === 0x2b || c === 0x2d || c === 0x2e) {
      if (i === 0) return { scheme: '', rest: raw };
      continue;
    }
    if (c === 0x3a) {
      if (i === 0) return undefined;
      return { scheme: raw.slice(0, i), rest: raw.slice(i + 1) };
    }
    return { scheme: '', rest: raw };
  }
  return { scheme: '', rest: raw };
}

/**
 * Go's `url.Parse` (net/url, viaRequest false), reduced to what decides `URL.Path`: the fragment
 * is cut at the first `#`, CTL bytes (< 0x20, 0x7f) are an error, a scheme is split off, the
 * query at the first `?`, an authority after `//` (unless `///`), and the rest unescaped (an
 * invalid escape is an error). Host validation is simplified to a character check.
 */
export function goUrlPath(raw: string): string | undefined {
  const hash = raw.indexOf('#');
  const u = hash < 0 ? raw : raw.slice(0, hash);
  for (let i = 0; i < u.length; i++) {
    const c = u.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return undefined;
  }
  if (u === '*') return '*';
  const sch = goGetScheme(u);
  if (sch === undefined) return undefined;
  let rest = sch.rest;
  if (rest.endsWith('?') && rest.indexOf('?') === rest.length - 1) rest = rest.slice(0, -1);
  else {
    const q = rest.indexOf('?');
    if (q >= 0) rest = rest.slice(0, q);
  }
  if (!rest.startsWith('/')) {
    if (sch.scheme !== '') return ''; // opaque: no path
    const seg = rest.split('/', 1)[0]!;
    if (seg.includes(':')) return undefined;
  }
  if ((sch.scheme !== '' || !rest.startsWith('///')) && rest.startsWith('//')) {
    let authority = rest.slice(2);
    rest = '';
    const slash = authority.indexOf('/');
    if (slash >= 0) {
      rest = authority.slice(slash);
      authority = authority.slice(0, slash);
    }
    const host = authority.slice(authority.lastIndexOf('@') + 1);
    if (!/^[A-Za-z0-9.\-_~!$&'()*+,;=:[\]%]*$/.test(host)) return undefined;
  }
  return goPathUnescape(rest);
}

/** The Go reading: `path.Clean` of `url.Parse(target).Path` (an empty path is `/`). */
export const goModel: RouterModel = {
  name: 'go (url.Parse + path.Clean)',
  dropsTrailingSlash: true,
  read: (t) => {
    const p = goUrlPath(t);
    if (p === undefined) return undefined;
    return goPathClean(p === '' ? '/' : p);
  },
};

// --- Python: urllib.parse.urlsplit(target).path, unquoted, then posixpath.normpath

/**
 * The Python side: one long-lived `python3` reading `{"id", "target"}` JSON lines and answering
 * `{"id", "path"}` (or `{"id", "error"}`). Targets travel as byte strings (code points 0-255) and
 * are unquoted as latin-1, so bytes stay bytes. `normpath` keeps a leading `//` (POSIX allows
 * it); a router would not, so it is folded to one slash.
 */
export const PYTHON_ROUTER = String.raw`
import sys, json, posixpath
from urllib.parse import urlsplit, unquote
for line in sys.stdin:
    req = json.loads(line)
    out = {"id": req["id"]}
    try:
        p = urlsplit(req["target"]).path
        p = unquote(p, encoding="latin-1")
        if p == "":
            p = "/"
        n = posixpath.normpath(p)
        if n.startswith("//"):
            n = "/" + n.lstrip("/")
        out["path"] = n
    except Exception as e:
        out["error"] = type(e).__name__ + ": " + str(e)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
`;

export class PythonRouter implements RouterModel {
  readonly name = 'python (urlsplit + unquote + normpath)';
  readonly dropsTrailingSlash = true;
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly waiting = new Map<number, (p: string | undefined) => void>();
  private next = 0;
  private readonly cache = new Map<string, Promise<string | undefined>>();
  /** Answers received: the helper is alive and answering. */
  answered = 0;

  constructor(python = process.env.SIDEGATE_DIFF_PYTHON ?? 'python3') {
    this.proc = spawn(python, ['-c', PYTHON_ROUTER], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stderr.on('data', (d: Buffer) => process.stderr.write(`[python router] ${String(d)}`));
    const rl = createInterface({ input: this.proc.stdout });
    rl.on('line', (line) => {
      const m = JSON.parse(line) as { id: number; path?: string; error?: string };
      this.answered++;
      const cb = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      cb?.(m.path);
    });
    this.proc.on('exit', () => {
      for (const cb of this.waiting.values()) cb(undefined);
      this.waiting.clear();
    });
  }

  read(target: string): Promise<string | undefined> {
    let p = this.cache.get(target);
    if (p === undefined) {
      p = new Promise((resolve) => {
        const id = this.next++;
        this.waiting.set(id, resolve);
        this.proc.stdin.write(`${JSON.stringify({ id, target })}\n`);
      });
      this.cache.set(target, p);
    }
    return p;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.proc.exitCode !== null) {
        resolve();
        return;
      }
      this.proc.once('exit', () => resolve());
      this.proc.stdin.end();
    });
  }
}

/**
 * The default models. `SIDEGATE_DIFF_ROUTERS` (comma-separated: express, whatwg, go, python)
 * selects a subset.
 */
export async function routerModels(env: NodeJS.ProcessEnv = process.env): Promise<RouterModel[]> {
  const want = new Set((env.SIDEGATE_DIFF_ROUTERS ?? 'express,whatwg,go,python').split(',').map((s) => s.trim()));
  const out: RouterModel[] = [];
  if (want.has('express')) out.push(await expressModel());
  if (want.has('whatwg')) out.push(whatwgModel);
  if (want.has('go')) out.push(goModel);
  if (want.has('python')) out.push(new PythonRouter());
  return out;
}
