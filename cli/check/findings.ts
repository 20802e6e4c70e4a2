/**
 * Every finding `sidegate check` can report: one table (code → severity, meaning, generic fix).
 * docs/errors.md lists the same rows; test/cli/check-findings.test.ts keeps the two in step.
 * Codes are stable (scripts match on them) and never renamed. A finding's own `fix` is the
 * one-line fix for that instance (names filled in); the table's is the same fix in general terms.
 */

export type Severity = 'error' | 'warning';

interface FindingSpec {
  readonly severity: Severity;
  /** One sentence for docs/errors.md: what check saw. */
  readonly meaning: string;
  /** The fix in general terms, as docs/errors.md shows it. */
  readonly fix: string;
}

export const FINDINGS = {
  SIDEGATE_CHECK_API_ERROR: {
    severity: 'error',
    meaning: 'The API server refused or failed a read check needs (forbidden, unreachable, timed out).',
    fix: 'Grant get/list on the objects named in the message (docs/operations.md lists them), or fix the kubeconfig.',
  },
  SIDEGATE_CHECK_WEBHOOK_MISSING: {
    severity: 'error',
    meaning: "No MutatingWebhookConfiguration with sidegate's webhooks is installed: no pod is injected.",
    fix: 'helm install sidegate charts/sidegate -n sidegate-system --create-namespace',
  },
  SIDEGATE_CHECK_WEBHOOK_DUPLICATE: {
    severity: 'warning',
    meaning: "More than one MutatingWebhookConfiguration carries sidegate's webhooks; check looked at the first.",
    fix: 'Uninstall the extra release, or pass --webhook-config NAME to check one.',
  },
  SIDEGATE_CHECK_WEBHOOK_RULES: {
    severity: 'error',
    meaning: "A sidegate webhook's rules do not cover CREATE of v1 pods: the API server never sends it pods.",
    fix: 'helm upgrade the release (the chart renders the rules).',
  },
  SIDEGATE_CHECK_MATCH_CONDITIONS: {
    severity: 'warning',
    meaning: 'A sidegate webhook has matchConditions (CEL), which check does not evaluate: they may still exclude the pod.',
    fix: 'Ask the API server: kubectl create --dry-run=server -o yaml -f pod.yaml shows whether sidegate-proxy is added.',
  },
  SIDEGATE_CHECK_FAILURE_POLICY_IGNORE: {
    severity: 'warning',
    meaning:
      'failurePolicy is Ignore: a pod created while the injector is unreachable starts without a sidecar, unauthenticated and unlimited.',
    fix: 'helm upgrade RELEASE charts/sidegate --reuse-values --set webhook.failurePolicy=Fail',
  },
  SIDEGATE_CHECK_INJECTOR_SERVICE_MISSING: {
    severity: 'error',
    meaning: 'The Service the webhook names does not exist or has no such port: every call fails.',
    fix: 'helm upgrade the release, or correct clientConfig.service.',
  },
  SIDEGATE_CHECK_INJECTOR_NOT_READY: {
    severity: 'error',
    meaning: "The injector Service's EndpointSlices list no ready endpoint: the API server has nowhere to send pods.",
    fix: "kubectl -n NAMESPACE rollout status deployment/INJECTOR and read its pods' events and logs.",
  },
  SIDEGATE_CHECK_INJECTOR_UNREACHABLE: {
    severity: 'error',
    meaning: "A TLS connection to the injector (the webhook's url, or --injector-address) failed.",
    fix: 'Start the injector at that address, or correct clientConfig.url.',
  },
  SIDEGATE_CHECK_CA_BUNDLE_MISSING: {
    severity: 'error',
    meaning: "The webhook has no caBundle: the API server checks the injector against its system roots, which do not hold the chart's CA.",
    fix: 'helm upgrade the release; with cert-manager, check that its cainjector runs.',
  },
  SIDEGATE_CHECK_CA_BUNDLE_INVALID: {
    severity: 'error',
    meaning: 'The caBundle holds no usable certificate: not PEM, or every certificate in it is expired or not yet valid.',
    fix: 'helm upgrade the release (it writes the CA again), or renew the CA.',
  },
  SIDEGATE_CHECK_CA_MISMATCH: {
    severity: 'error',
    meaning:
      'The injector\'s serving certificate is not signed by a CA in the caBundle: the API server fails every call ("x509: certificate signed by unknown authority").',
    fix: 'Put the CA that signed the serving certificate in the caBundle (helm upgrade), or restart the injector on the current Secret.',
  },
  SIDEGATE_CHECK_SERVING_CERT_EXPIRED: {
    severity: 'error',
    meaning: "The injector's serving certificate is expired or not yet valid.",
    fix: 'Renew the serving certificate (delete the TLS Secret and helm upgrade, or let cert-manager renew it) and restart the injector.',
  },
  SIDEGATE_CHECK_SERVING_CERT_NAME: {
    severity: 'error',
    meaning: "The serving certificate does not name the host the API server dials (SERVICE.NAMESPACE.svc, or the url's host).",
    fix: "Reissue the serving certificate for that name (helm upgrade renders the chart's).",
  },
  SIDEGATE_CHECK_SERVING_CERT_UNCHECKED: {
    severity: 'warning',
    meaning:
      'The webhook names a Service check cannot dial from here, and no TLS Secret of the injector could be read: the certificate was not compared.',
    fix: 'kubectl -n NAMESPACE port-forward svc/INJECTOR 9443:443, then sidegate check --injector-address 127.0.0.1:9443',
  },
  SIDEGATE_CHECK_INJECTOR_CONFIG: {
    severity: 'warning',
    meaning: "The injector's ConfigMap (config.yaml) could not be read or parsed; pods were judged with the default injector config.",
    fix: 'kubectl -n NAMESPACE get configmap -l app.kubernetes.io/component=injector -o yaml',
  },
  SIDEGATE_CHECK_NAMESPACE_NOT_FOUND: {
    severity: 'error',
    meaning: 'The namespace does not exist.',
    fix: 'kubectl create namespace NAMESPACE, or pass the right -n.',
  },
  SIDEGATE_CHECK_TARGET_NOT_FOUND: {
    severity: 'error',
    meaning: 'The workload or pod named does not exist in the namespace.',
    fix: 'kubectl -n NAMESPACE get KIND, and pass an existing name.',
  },
  SIDEGATE_CHECK_NAMESPACE_NOT_SELECTED: {
    severity: 'error',
    meaning:
      "Neither the namespace's labels nor the pod's labels match a sidegate webhook's selectors: the API server does not call the injector.",
    fix: 'kubectl label namespace NAMESPACE sidegate.dev/injection=enabled (or label the pod template sidegate.dev/inject=true)',
  },
  SIDEGATE_CHECK_NAMESPACE_DISABLED: {
    severity: 'error',
    meaning: 'The namespace is labelled sidegate.dev/injection=disabled: no pod in it is injected, whatever its own label.',
    fix: 'kubectl label namespace NAMESPACE sidegate.dev/injection=enabled --overwrite',
  },
  SIDEGATE_CHECK_NAMESPACE_EXCLUDED: {
    severity: 'error',
    meaning:
      "The webhook excludes the namespace by name (kube-system, kube-public, kube-node-lease, the injector's, webhook.excludeNamespaces).",
    fix: 'Run the workload in another namespace, or remove it from webhook.excludeNamespaces.',
  },
  SIDEGATE_CHECK_POD_OPT_OUT: {
    severity: 'error',
    meaning: 'The pod (template) is labelled sidegate.dev/inject=false: the API server leaves it out (objectSelector).',
    fix: 'Remove the label sidegate.dev/inject from the pod template, then roll the workload.',
  },
  SIDEGATE_CHECK_INJECTOR_SKIPS: {
    severity: 'error',
    meaning:
      'The webhook is called, but the injector skips the pod (host-network, other-mesh, system or injector namespace; docs/annotations.md).',
    fix: "Per reason: drop hostNetwork, or remove the other mesh's proxy; the message says which.",
  },
  SIDEGATE_CHECK_ANNOTATION_ERROR: {
    severity: 'error',
    meaning: 'A sidegate.dev/ annotation is invalid: the injector refuses the pod and the controller cannot create it.',
    fix: 'Correct or remove the annotation on the pod template (docs/annotations.md lists the values).',
  },
  SIDEGATE_CHECK_ANNOTATION_WARNING: {
    severity: 'warning',
    meaning: 'A sidegate.dev/ annotation is unknown or ignored; the pod is injected without it (kubectl shows the same warning).',
    fix: 'Correct or remove the annotation on the pod template.',
  },
  SIDEGATE_CHECK_INJECTION_WARNING: {
    severity: 'warning',
    meaning:
      'The injector injects the pod with a warning (no declared port, a classic sidecar in a Job, a replaced annotation); kubectl shows the same warning.',
    fix: 'Change the pod template as the message says, or accept the default it names.',
  },
  SIDEGATE_CHECK_POD_REFUSED: {
    severity: 'error',
    meaning:
      'The injector refuses the pod for a reason beyond one annotation (a port the sidecar owns, an app-port name no container declares, an invalid policy overlay).',
    fix: 'Change the pod template as the message says.',
  },
  SIDEGATE_CHECK_POD_NOT_INJECTED: {
    severity: 'error',
    meaning:
      'A pod that the webhook selects now runs without a sidecar: admitted while the injector was unreachable under failurePolicy Ignore, or created before injection was enabled.',
    fix: 'kubectl -n NAMESPACE rollout restart WORKLOAD (or delete the pod)',
  },
  SIDEGATE_CHECK_POD_STATUS_INVALID: {
    severity: 'warning',
    meaning:
      "A pod runs sidegate's containers but its sidegate.dev/status annotation is missing or unreadable: a later injection cannot cleanly replace them.",
    fix: 'Recreate the pod from its workload (kubectl -n NAMESPACE rollout restart WORKLOAD).',
  },
} as const satisfies Record<`SIDEGATE_CHECK_${string}`, FindingSpec>;

export type FindingCode = keyof typeof FINDINGS;

export interface Finding {
  readonly code: FindingCode;
  readonly severity: Severity;
  /** What the finding is about: `namespace/shop`, `deployment/orders`, `webhook inject.sidegate.dev`. */
  readonly subject: string;
  readonly message: string;
  /** One line: what to run or change, with the names of this instance. */
  readonly fix: string;
}

export function finding(code: FindingCode, subject: string, message: string, fix?: string): Finding {
  const spec: FindingSpec = FINDINGS[code];
  return Object.freeze({ code, severity: spec.severity, subject, message, fix: fix ?? spec.fix });
}

export function hasErrors(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}
