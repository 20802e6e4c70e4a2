/** Kubernetes resource quantities (`250m`, `64Mi`, `1.5`, `2e3`), parsed only to compare them. */

const QUANTITY = /^\+?(\d+(?:\.\d*)?|\.\d+)((?:[KMGTPE]i)|[numkMGTPE]|(?:[eE][+-]?\d+))?$/;

const SUFFIX: Readonly<Record<string, number>> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** The quantity's value in base units, or undefined when Kubernetes would refuse the string. */
export function parseQuantity(s: string): number | undefined {
  const m = QUANTITY.exec(s);
  if (m === null) return undefined;
  const num = Number(m[1]);
  const suffix = m[2] ?? '';
  const mult = suffix.startsWith('e') || suffix.startsWith('E') ? 10 ** Number(suffix.slice(1)) : SUFFIX[suffix];
  if (mult === undefined || !Number.isFinite(num)) return undefined;
  // An exponent past a double's range gives Infinity, or NaN times 0 (`0e999`): NaN would pass
  // every comparison made with it (above zero? below the request?), so neither is a quantity.
  const value = num * mult;
  return Number.isFinite(value) ? value : undefined;
}
