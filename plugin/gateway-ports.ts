/** The ports this gateway itself listens on; none of them is ever a proxy destination on a local address. */
export class GatewayPorts {
  /** The adapters listening now: service -> bound port (what `/discover` gives in gateway mode). */
  readonly endpoints = new Map<string, number>();
  /** Every port an adapter bound, implicit-TLS ports included. */
  private readonly bound = new Set<number>();
  /** The ports of the HTTP(S) servers the tunnel endpoint is attached to. */
  private readonly attached = new Set<number>();
  /** The union of both, kept until either changes: every connection checks its server against it. */
  private union: ReadonlySet<number> | null = null;

  /** An adapter bound `port`. */
  bind(port: number): void {
    this.bound.add(port);
    this.union = null;
  }

  /** The adapters' ports are forgotten (before a reload binds again, or at close). */
  unbindAll(): void {
    this.bound.clear();
    this.union = null;
  }

  /** The tunnel endpoint is attached to an HTTP(S) server on `port`. */
  attach(port: number): void {
    this.attached.add(port);
    this.union = null;
  }

  own(): ReadonlySet<number> {
    this.union ??= new Set([...this.bound, ...this.attached]);
    return this.union;
  }
}
