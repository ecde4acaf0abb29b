import type { Identity } from '../identity';
import type { ServerInfo } from '../server-info';
import { subjectRank } from '../sources/subject';

/**
 * Keeps the servers meant for this client: of those whose `for` matches it,
 * only the most specific kind (its own `user:` servers, else its attribute's,
 * else `authenticated`/`anonymous` ones, else the general ones without `for`).
 * So alice's own POP3 server replaces the general one for her, and only her.
 */
export function selectForIdentity(servers: readonly ServerInfo[], identity: Identity): readonly ServerInfo[] {
  // No server names a subject (the usual table): all are for everyone, and the list is returned as it is.
  if (servers.every((server) => server.for === undefined)) return servers;
  let best = -1;
  let chosen: ServerInfo[] = [];
  for (const server of servers) {
    const rank = server.for === undefined ? 0 : subjectRank(server.for, identity) || -1;
    if (rank < 0 || rank < best) continue;
    if (rank > best) {
      best = rank;
      chosen = [];
    }
    chosen.push(server);
  }
  return chosen;
}
