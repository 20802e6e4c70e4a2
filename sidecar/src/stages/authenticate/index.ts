export { authenticate, Authenticator, type AuthDeps } from './stage.js';
export { AuthRuntime, type AuthRuntimeDeps, type Identify } from './runtime.js';
export type { KeyDeps } from './deps.js';
export { KeyManager, keyFingerprint, type KeyManagerOptions } from './keys/key-manager.js';
export { ProviderKeys, DEFAULT_TIMING, type KeyTiming } from './keys/provider-keys.js';
export {
  DiscoveryJwksSource,
  FileJwksSource,
  HttpJwksSource,
  InlineJwksSource,
  SecretKeySource,
  sourceFor,
  type Jwk,
  type KeySource,
} from './keys/key-source.js';
export {
  ConnectionRevocationStore,
  RedisRevocationStore,
  REVOCATION_OP,
  bannedKey,
  revokedKey,
  type RevocationStore,
} from './revocation.js';
export { AUTH_REASONS, REASON_MESSAGES, type AuthReason } from './reasons.js';
export { ALGORITHMS } from './algorithms.js';
