export type * from './types.js';
export { compilePolicy, type CompileResult } from './compile.js';
export { JWS_ALGORITHMS, algorithmKind, type JwsAlgorithm } from './algorithms.js';
export { compileMatcher, type MatchSpec } from './matcher.js';
export { mergePolicyDocuments } from './merge.js';
export { loadPolicyFile, parsePolicyText, CONFIGMAP_POLICY_KEY, type LoadResult } from './load.js';
export { parseDuration, formatDuration } from './duration.js';
export { quote } from './problems.js';
