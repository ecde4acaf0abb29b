import type { RemoteInfo } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import makeMulticastDns from 'multicast-dns';
import type { Clock } from '../clock';
import { RoamgateError } from '../errors';
import {
  announcementRecords,
  ANNOUNCEMENT_TTL_SECONDS,
  buildRecords,
  isOnLink,
  LEGACY_UNICAST_TTL_SECONDS,
  MDNS_GROUP,
  planAnswer,
  type Announcement,
  type AnnouncementTxt,
} from '../protocols/mdns-announcement';

/** A record set is multicast at most once a second (RFC 6762 §6), announcements included. */
export const MDNS_MULTICAST_INTERVAL_MS = 1_000;
/** Unasked announcements when the responder starts, one second apart (RFC 6762 §8.3). */
export const MDNS_ANNOUNCEMENTS = 2;
/** How long close() waits for the goodbye to be sent (ms). */
const GOODBYE_WAIT_MS = 500;
/** Distinct socket warnings reported at most (multicast-dns retries a failing interface every 5 s). */
const MAX_REPORTED_WARNINGS = 32;

/** Options of {@link MdnsResponder}. */
export interface MdnsResponderOptions {
  /** The instance name: the network's name (at most 63 bytes, no dots). */
  name: string;
  /** The gateway's URL now. */
  url(): string;
  /** A TXT record signed now for this URL (`announcementTxt`). */
  sign(url: string): AnnouncementTxt;
  /** UDP port: 5353, or another for tests and private setups. */
  port: number;
  /** IPv4 address of the one interface to answer on; default: every interface (the group is joined on each). */
  interface?: string;
  /** Whether a unicast answer may go to this address now (the responder's rate limits). */
  allowUnicast(address: string): boolean;
  onError(error: unknown): void;
  /** Lower limit on the source port of a legacy unicast query (no reflection into well-known services). */
  minQuerySourcePort: number;
  /** What time it is, for the once-a-second multicast limit. */
  clock: Clock;
}

type MulticastDns = ReturnType<typeof makeMulticastDns>;

/**
 * Answers DNS-SD queries for `_roamgate._tcp.local` over mDNS with the
 * gateway's signed records. Queries from the mDNS port get a multicast answer
 * (at most one a second, TTL {@link ANNOUNCEMENT_TTL_SECONDS}); one-shot
 * queries from any other port (RFC 6762 §5.1, what `roamgate local` sends)
 * get a unicast answer to the asker (TTL {@link LEGACY_UNICAST_TTL_SECONDS}),
 * only when the asker is on a local link and within the rate limits. Every
 * answer is signed when it is sent, so its issuedAt is fresh.
 */
export class MdnsResponder {
  private mdns?: MulticastDns;
  private lastMulticast = -Infinity;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly reported = new Set<string>();

  constructor(private readonly options: MdnsResponderOptions) {}

  /** Binds the port and joins the group; rejects naming the option when it cannot. */
  async start(): Promise<void> {
    const { port, interface: address } = this.options;
    const mdns = makeMulticastDns({ port, ip: MDNS_GROUP, interface: address, bind: '0.0.0.0', reuseAddr: true, loopback: true, ttl: 255 });
    const joinFailures: NodeJS.ErrnoException[] = [];
    const onStartWarning = (error: NodeJS.ErrnoException) => {
      if (error.syscall === 'addMembership' || error.syscall === 'setMulticastInterface') joinFailures.push(error);
    };
    mdns.on('warning', onStartWarning);
    // Kept for the socket's life: multicast-dns may emit a bind failure twice, and an 'error' without a listener would end the process.
    let phase: 'starting' | 'running' | 'failed' = 'starting';
    let failStart: (error: unknown) => void = () => undefined;
    mdns.on('error', (error) => {
      if (phase === 'starting') failStart(error);
      else if (phase === 'running') this.options.onError(error);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        failStart = reject;
        mdns.once('ready', resolve);
      });
    } catch (error) {
      phase = 'failed';
      mdns.destroy();
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new RoamgateError('ROAMGATE_INVALID_OPTIONS', `discovery.mdns: cannot listen on UDP port ${port} (${code})`, { cause: error });
    } finally {
      mdns.off('warning', onStartWarning);
    }
    // With one interface named, not being able to use it is a configuration error; with all of them, some may fail (no multicast, no address yet).
    if (address !== undefined && joinFailures.length) {
      phase = 'failed';
      mdns.destroy();
      const failure = joinFailures[0];
      throw new RoamgateError(
        'ROAMGATE_INVALID_OPTIONS',
        `discovery.mdns.interface: cannot use ${address} for mDNS (${failure.code ?? failure.message})`,
        { cause: failure },
      );
    }
    phase = 'running';
    for (const failure of joinFailures) this.warn(failure);
    mdns.on('warning', (error: NodeJS.ErrnoException) => {
      // Undecodable packets are anyone's to send; only our own socket's troubles are worth telling.
      if (error.syscall) this.warn(error);
    });
    mdns.on('query', (query, from) => this.onQuery(query.questions, query.id, from));
    this.mdns = mdns;
    this.announce(MDNS_ANNOUNCEMENTS);
  }

  /** Says goodbye (the records with TTL 0), then closes the socket. Safe to call when not started. */
  async close(): Promise<void> {
    const mdns = this.mdns;
    this.mdns = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    if (!mdns) return;
    const goodbye = this.announcement(0);
    if (goodbye) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, GOODBYE_WAIT_MS);
        mdns.respond({ answers: announcementRecords(goodbye) }, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    await new Promise<void>((resolve) => mdns.destroy(() => resolve()));
  }

  private onQuery(questions: Parameters<typeof planAnswer>[0], id: number | undefined, from: RemoteInfo): void {
    const mdns = this.mdns;
    if (!mdns || !Array.isArray(questions)) return;
    let url: string;
    try {
      url = this.options.url();
    } catch (error) {
      this.options.onError(error);
      return;
    }
    const plan = planAnswer(questions, { name: this.options.name, url });
    if (!plan) return;
    const legacy = from.port !== this.options.port;
    if (legacy) {
      if (from.port < this.options.minQuerySourcePort) return;
      if (
        !isOnLink(
          from.address,
          Object.values(networkInterfaces()).flatMap((entries) => entries ?? []),
        )
      )
        return;
      if (!this.options.allowUnicast(from.address)) return;
    } else {
      if (!this.takeMulticast()) return;
    }
    const announcement = this.announcement(legacy ? LEGACY_UNICAST_TTL_SECONDS : ANNOUNCEMENT_TTL_SECONDS, url, !legacy);
    if (!announcement) return;
    const answers = buildRecords(plan.answers, announcement);
    const additionals = buildRecords(plan.additionals, announcement);
    const done = (error: Error | null) => {
      if (error) this.options.onError(error);
    };
    if (legacy)
      mdns.respond({ id: id ?? 0, questions: plan.questions, answers, additionals }, { port: from.port, address: from.address }, done);
    else mdns.respond({ answers, additionals }, done);
  }

  /** Multicasts every record now and `remaining - 1` more times, a second apart. */
  private announce(remaining: number): void {
    const mdns = this.mdns;
    if (!mdns || remaining <= 0) return;
    if (this.takeMulticast()) {
      const announcement = this.announcement(ANNOUNCEMENT_TTL_SECONDS);
      if (announcement) mdns.respond({ answers: announcementRecords(announcement) }, (error) => error && this.options.onError(error));
    }
    if (remaining > 1) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.announce(remaining - 1);
      }, MDNS_MULTICAST_INTERVAL_MS);
      timer.unref();
      this.timers.add(timer);
    }
  }

  private takeMulticast(): boolean {
    const now = this.options.clock.monotonic();
    if (now - this.lastMulticast < MDNS_MULTICAST_INTERVAL_MS) return false;
    this.lastMulticast = now;
    return true;
  }

  /** The announcement signed now; undefined (and reported) when the URL or the signature cannot be had. */
  private announcement(ttl: number, url?: string, flush = true): Announcement | undefined {
    try {
      const current = url ?? this.options.url();
      return { name: this.options.name, txt: this.options.sign(current), ttl, flush };
    } catch (error) {
      this.options.onError(error);
      return undefined;
    }
  }

  private warn(error: NodeJS.ErrnoException): void {
    const key = `${error.syscall}:${error.code}:${error.message}`;
    if (this.reported.has(key) || this.reported.size >= MAX_REPORTED_WARNINGS) return;
    this.reported.add(key);
    this.options.onError(error);
  }
}
