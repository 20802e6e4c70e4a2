/**
 * The protocols of an Upgrade header (RFC 9110 §7.8: a comma-separated list of tokens, compared
 * case-insensitively), lowercased, empty entries dropped.
 */
export function upgradeTokens(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((p) => p.trim().toLowerCase())
    .filter((p) => p !== '');
}

/** The protocol an app's 101 names must be one the client offered (RFC 9110 §7.8). */
export function switchedToOffered(offered: string, answered: string | undefined): boolean {
  const want = new Set(upgradeTokens(offered));
  const got = upgradeTokens(answered);
  return got.length > 0 && got.every((p) => want.has(p));
}
