import type { Exchange } from '../protocol/exchange.js';

/** The app behind the sidecar. `forward` settles when the response has been relayed (or failed). */
export interface Upstream {
  readonly origin: string;
  /** The app speaks HTTP/1.1 here, so an Upgrade request can become a tunnel after its 101. */
  readonly tunnels: boolean;
  forward(ex: Exchange): Promise<void>;
  close(): Promise<void>;
}
