import type { Exchange } from '../exchange.js';

/** The app behind the sidecar. `forward` settles when the response has been relayed (or failed). */
export interface Upstream {
  readonly origin: string;
  forward(ex: Exchange): Promise<void>;
  close(): Promise<void>;
}
