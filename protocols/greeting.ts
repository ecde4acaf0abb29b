import type { KnownService } from './services';

/** What a healthy server of each line protocol says first, and how to leave politely. */
const GREETINGS: Record<Exclude<KnownService, 'http-proxy'>, { ok: RegExp; quit: string }> = {
  smtp: { ok: /^220(?:[ -]|$)/, quit: 'QUIT\r\n' },
  pop3: { ok: /^\+OK(?:\s|$)/, quit: 'QUIT\r\n' },
  nntp: { ok: /^20[01](?:\s|$)/, quit: 'QUIT\r\n' },
  // RFC 9051 7.1: `* OK`, or `* PREAUTH` from a server that logged the connection in already.
  imap: { ok: /^\* (?:OK|PREAUTH)(?:\s|$)/i, quit: 'rg LOGOUT\r\n' },
};

/** True when the service has a greeting to check (the line protocols). */
export function hasGreeting(service: string): service is keyof typeof GREETINGS {
  return Object.hasOwn(GREETINGS, service);
}

/** Whether `line` is a valid ready greeting for `service`. */
export function isReadyGreeting(service: keyof typeof GREETINGS, line: string): boolean {
  return GREETINGS[service].ok.test(line);
}

/** The command that ends a session after a health probe. */
export function quitCommand(service: keyof typeof GREETINGS): string {
  return GREETINGS[service].quit;
}
