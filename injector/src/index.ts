/** The injector's public API: the pure core, its adapters, and `init-network`'s rules. */
export { injectPod, refusalMessage, type InjectResult } from './inject.js';
export { DEFAULT_CONFIG, parseInjectorConfig, ConfigError, type InjectorConfig } from './config.js';
export { ANNOTATIONS, parseAnnotations, type AnnotationSpec, type AnnotationSettings } from './annotations.js';
export { SKIP_REASONS, skipReasons, type SkipCode, type SkipReason } from './decide.js';
export { diff, type PatchOp } from './diff.js';
export { injectManifests, ManifestSyntaxError, type OfflineResult } from './offline.js';
export type { Outcome as WorkloadOutcome } from './workloads.js';
export {
  admitPod,
  decodeReview,
  validatePolicyConfigMap,
  review,
  BadReviewError,
  type AdmissionRequest,
  type AdmissionResponse,
} from './admission.js';
export { startWebhook, type Webhook, type WebhookOptions } from './webhook.js';
export { InjectorMetrics } from './metrics.js';
export * as constants from './constants.js';
export type { Pod, NamespaceInfo, Workload } from './k8s.js';
export { chainRules, jumpRules, parsePorts, CHAIN_INBOUND, CHAIN_OUTPUT, type NetworkOptions, type Family } from './network/rules.js';
export { installRules, removeRules, familyUsable, execRunner, IptablesError, type Runner } from './network/iptables.js';
