export {
  RevocationList,
  describeEntry,
  issuedBefore,
  cutoffField,
  sameTarget,
  iso,
  ENTRY_KINDS,
  type RevocationEntry,
  type EntryKind,
  type TokenFacts,
} from './list.js';
export {
  parseRevocations,
  formatRevocations,
  parseIp,
  parseTime,
  REVOCATIONS_API_VERSION,
  REVOCATIONS_CONFIGMAP,
  REVOCATIONS_KEY,
  REVOCATIONS_KIND,
  type ParsedRevocations,
  type RevocationProblem,
} from './document.js';
export {
  CUTOFFS_KEY,
  bannedKey,
  revokedKey,
  seededKey,
  putEntry,
  putMark,
  deleteEntry,
  pruneCutoffs,
  parseCutoff,
  latestCutoff,
} from './redis-copy.js';
export { RevocationSource, type RevocationSourceOptions } from './source.js';
export { RevocationSeeder, SEED_OP } from './seeder.js';
