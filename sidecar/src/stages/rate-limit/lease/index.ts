export { LeasingStore } from './store.js';
export type { LeaseOptions, LeasingStoreDeps } from './store.js';
export { Lease, RateMeter, leaseSize, isHot } from './book.js';
export type { SizeInput } from './book.js';
export { LEASE, leaseArgs, parseLeaseReply } from './script.js';
export type { LeaseOp, LeaseReply, Release } from './script.js';
export { noLeaseRecorder, CountingLeaseRecorder } from './recorder.js';
export type { LeaseRecorder } from './recorder.js';
