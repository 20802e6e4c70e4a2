export { LeasingStore } from './store.js';
export type { LeaseOptions, LeasingStoreDeps } from './store.js';
export { Lease, RateMeter } from './book.js';
export { effectivePeriod, leaseSize, isHot } from './sizing.js';
export type { PeriodInput, SizeInput } from './sizing.js';
export { LEASE, leaseArgs, parseLeaseReply } from './script.js';
export type { LeaseOp, LeaseReply, Release } from './script.js';
export { noLeaseRecorder, CountingLeaseRecorder } from './recorder.js';
export type { LeaseRecorder } from './recorder.js';
