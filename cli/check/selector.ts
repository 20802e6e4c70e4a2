/**
 * Label selectors as the API server evaluates a webhook's namespaceSelector and objectSelector
 * (k8s.io/apimachinery labels.Selector): every matchLabels pair and every matchExpression must
 * hold; an empty or absent selector matches everything. What check reports is the first
 * requirement that does not hold, so "not injected" names the label to change.
 */

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: string;
  readonly values?: readonly string[];
}

export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly LabelSelectorRequirement[];
}

export type Labels = Readonly<Record<string, string>>;

/** The first requirement `labels` fail, or undefined when the selector matches. */
export function unmetRequirement(selector: LabelSelector | undefined, labels: Labels): LabelSelectorRequirement | undefined {
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) {
    if (labels[key] !== value) return { key, operator: 'In', values: [value] };
  }
  for (const r of selector?.matchExpressions ?? []) {
    if (!holds(r, labels)) return r;
  }
  return undefined;
}

function holds(r: LabelSelectorRequirement, labels: Labels): boolean {
  const has = Object.hasOwn(labels, r.key);
  const value = labels[r.key];
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return has && value !== undefined && values.includes(value);
    // A missing label is "not in" any set, as in apimachinery.
    case 'NotIn':
      return !has || value === undefined || !values.includes(value);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    // The API server refuses webhook configurations with other operators; match nothing.
    default:
      return false;
  }
}

/** `key in (a, b)`, as kubectl prints selectors. */
export function describeRequirement(r: LabelSelectorRequirement): string {
  const values = (r.values ?? []).join(', ');
  switch (r.operator) {
    case 'In':
      return (r.values ?? []).length === 1 ? `${r.key}=${values}` : `${r.key} in (${values})`;
    case 'NotIn':
      return `${r.key} notin (${values})`;
    case 'Exists':
      return r.key;
    case 'DoesNotExist':
      return `!${r.key}`;
    default:
      return `${r.key} ${r.operator} (${values})`;
  }
}
