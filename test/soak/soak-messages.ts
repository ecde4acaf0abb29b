/** IPC between the soak test (parent) and the gateway under soak (child, soak-gateway.ts). */

/** Parent -> child, as JSON in argv[2]: where the upstream servers listen, and the user the pop3 and imap phases log in as. */
export interface SoakSetup {
  upstreams: { smtp: number; pop3: number; imap: number; nntp: number; web: number };
  user: { id: string; password: string };
  /** The SQLite store's file (under the test run's temporary directory). */
  storePath: string;
}

/** Child -> parent, once: the adapters' ports and the HTTP server (management API and tunnel endpoint). */
export interface GatewayReady {
  type: 'ready';
  ports: { smtp: number; pop3: number; imap: number; nntp: number; 'http-proxy': number; http: number };
}

/** Parent -> child: report the process's resources, after a full GC when `gc`. */
export interface SampleRequest {
  type: 'sample';
  gc: boolean;
}

/** Child -> parent: the answer to a SampleRequest. */
export interface GatewaySample {
  type: 'sample';
  rss: number;
  heapUsed: number;
  /** Capacity of V8's young generation: it grows with the allocation rate, not with live data, and stays grown. */
  newSpaceSize: number;
  /** Entries of /proc/self/fd: every open file descriptor, sockets, the store's files and the IPC channel included. */
  fds: number;
  /** Whether a GC really ran before the sample (false without --expose-gc). */
  collected: boolean;
}

/** Parent -> child: close the gateway and exit. */
export interface StopRequest {
  type: 'stop';
}

export type ChildMessage = GatewayReady | GatewaySample;
export type ParentMessage = SampleRequest | StopRequest;
