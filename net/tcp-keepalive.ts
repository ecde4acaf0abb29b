/**
 * Idle time before TCP keepalive probes start on the connections roamgate
 * opens, unless the caller says otherwise (ms). Linux (libuv sets the probe
 * interval to 1 s and the count to 10) then finds a peer that went silent
 * about this plus 10 s after the last byte of an idle connection. A gateway
 * holds many idle relays, so the default probes rarely; the local proxy,
 * with a few, asks for more (see local/upstream-connector.ts).
 */
export const DEFAULT_TCP_KEEPALIVE_MS = 15_000;
