/**
 * Every log line that contains one of the secrets, whole or as a recognisable part (a JWT's
 * signature segment alone is as good as the token to someone who has the rest).
 */
export function findSecrets(outputs: readonly string[], secrets: readonly string[]): string[] {
  const needles = new Set<string>();
  for (const s of secrets) {
    needles.add(s);
    const parts = s.split('.');
    if (parts.length === 3) needles.add(parts[2]!); // the signature of a JWT
  }
  const hits: string[] = [];
  for (const out of outputs) {
    for (const line of out.split('\n')) {
      for (const n of needles)
        if (n.length >= 8 && line.includes(n)) {
          hits.push(line.slice(0, 300));
          break;
        }
    }
  }
  return hits;
}
