import { readFileSync } from 'node:fs';

/**
 * Fill `{{NAME}}` placeholders in a config template. A placeholder without a value is an error:
 * a half-rendered nginx or haproxy config would fail later with a far less clear message.
 */
export function render(template: string, vars: Readonly<Record<string, string | number>>): string {
  const missing = new Set<string>();
  const out = template.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_m, name: string) => {
    const v = vars[name];
    if (v === undefined) {
      missing.add(name);
      return '';
    }
    return String(v);
  });
  if (missing.size > 0) throw new Error(`template placeholders without a value: ${[...missing].join(', ')}`);
  return out;
}

export function renderFile(path: string, vars: Readonly<Record<string, string | number>>): string {
  return render(readFileSync(path, 'utf8'), vars);
}
