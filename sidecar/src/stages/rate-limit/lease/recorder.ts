/**
 * What leasing reports, kept behind a small interface so the Prometheus side lives with the other
 * metrics (sidecar/src/telemetry/metrics.ts). Label values are limit names from the policy (bounded).
 * Decisions by source (`lease`) go through the stage's existing decisions counter.
 * The proxy's recorder is lease/metrics.ts.
 */
export interface LeaseRecorder {
  /** A lease of `requests` was granted for a key of `limit`, sized to last `periodMs` (its effective period). */
  granted(limit: string, requests: number, periodMs: number): void;
  /** A lease was asked for: `ahead` in the background before the one in use ran out, `on_request` by a request that waited for it. */
  renewed(limit: string, when: 'ahead' | 'on_request'): void;
  /** Unused requests given back to the shared key when a lease ended. */
  returned(limit: string, requests: number): void;
  /** Unused requests that could not be given back (already passed, or other pods reserved after). */
  forfeited(limit: string, requests: number): void;
  /** A key switched between exact per-request decisions and leasing. */
  switched(limit: string, to: 'lease' | 'exact'): void;
  /** Keys in lease mode on this pod now. */
  leasedKeys(n: number): void;
}

export const noLeaseRecorder: LeaseRecorder = {
  granted: () => undefined,
  renewed: () => undefined,
  returned: () => undefined,
  forfeited: () => undefined,
  switched: () => undefined,
  leasedKeys: () => undefined,
};

/** A recorder that keeps totals in memory (tests, benchmarks, and the admin debug view). */
export class CountingLeaseRecorder implements LeaseRecorder {
  grants = 0;
  grantedRequests = 0;
  returnedRequests = 0;
  forfeitedRequests = 0;
  readonly switches = { lease: 0, exact: 0 };
  keys = 0;
  readonly sizes: number[] = [];
  readonly periods: number[] = [];
  readonly renewals = { ahead: 0, on_request: 0 };

  granted(_limit: string, requests: number, periodMs: number): void {
    this.grants++;
    this.grantedRequests += requests;
    if (this.sizes.length < 100_000) {
      this.sizes.push(requests);
      this.periods.push(periodMs);
    }
  }
  renewed(_limit: string, when: 'ahead' | 'on_request'): void {
    this.renewals[when]++;
  }
  returned(_limit: string, requests: number): void {
    this.returnedRequests += requests;
  }
  forfeited(_limit: string, requests: number): void {
    this.forfeitedRequests += requests;
  }
  switched(_limit: string, to: 'lease' | 'exact'): void {
    this.switches[to]++;
  }
  leasedKeys(n: number): void {
    this.keys = n;
  }
}
