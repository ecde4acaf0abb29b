/** The ports this gateway itself listens on; none of them is ever a proxy destination on a local address. */
export class GatewayPorts {
  /** The adapters listening now: service -> bound port (what `/discover` gives in gateway mode). */
  readonly endpoints = new Map<string, number>();
  /** Every port an adapter bound, implicit-TLS ports included. */
  readonly bound = new Set<number>();
  /** The ports of the HTTP(S) servers the tunnel endpoint is attached to. */
  readonly attached = new Set<number>();

  own(): Set<number> {
    return new Set([...this.bound, ...this.attached]);
  }
}
