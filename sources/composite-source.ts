import type { ServerEntry, ServerInfoSource } from './server-info-source';
import type { Identity } from '../identity';
import type { ServerInfo } from '../server-info';
import { serverKey } from './server-info-source';

/**
 * Several sources behind one: resolve asks them all and merges the answers.
 * A server named by several sources appears once, with its best (lowest)
 * priority; an operator's entry wins over a registration of the same server.
 */
export class CompositeSource implements ServerInfoSource {
  constructor(private readonly sources: readonly ServerInfoSource[]) {}

  /** The merged answer: at once (an array) when every source answers at once, as tables and the registry do. */
  resolve(service: string, identity: Identity): ServerInfo[] | Promise<ServerInfo[]> {
    try {
      const answers: Array<ServerInfo[] | Promise<ServerInfo[]>> = [];
      let allAtOnce = true;
      for (const source of this.sources) {
        const answer = source.resolve(service, identity);
        answers.push(answer);
        if (!Array.isArray(answer)) allAtOnce = false;
      }
      // Tables and the registry answer at once: merge now, without a promise
      // and the ticks it takes, since this runs for every connection.
      if (allAtOnce) return mergeAnswers(service, answers as ServerInfo[][]);
      return Promise.all(answers).then((lists) => mergeAnswers(service, lists));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async list(): Promise<ServerEntry[]> {
    const lists = await Promise.all(this.sources.map((source) => (source.list ? source.list() : [])));
    return lists.flat();
  }

  watch(onChange: () => void): () => void {
    const stops = this.sources.map((source) => source.watch?.(onChange));
    return () => {
      for (const stop of stops) stop?.();
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.sources.map((source) => source.close?.()));
  }
}

/**
 * The servers of all answers, in first-seen order, each once (per `for`
 * subject) with its lowest priority. Everything a source says of a server
 * (`for`, `tls`, `credentials`, `registered`) is kept. A server that both the
 * operator (options, file, admin, a custom source) and a registration name is
 * the operator's entry, whatever the registration's priority.
 */
export function mergeAnswers(service: string, answers: readonly (readonly ServerInfo[])[]): ServerInfo[] {
  const only = soleServer(answers);
  // One server in all (the usual case): nothing to merge.
  if (only !== undefined) return only === null ? [] : soleAnswer(only);
  const merged = new Map<string, ServerInfo>();
  for (const answer of answers) {
    for (const server of answer) {
      const key = `${serverKey(service, server)}|${server.for ?? ''}`;
      const known = merged.get(key);
      if (!known || preferred(server, known)) merged.set(key, serverOnly(server));
    }
  }
  return [...merged.values()];
}

/** Whether `server` replaces `known`, the same server from another answer: the operator's entry, else the lower priority. */
function preferred(server: ServerInfo, known: ServerInfo): boolean {
  if ((server.registered === undefined) !== (known.registered === undefined)) return server.registered === undefined;
  return server.priority < known.priority;
}

/**
 * The answer of one server alone: a frozen list of its own fields, made once per server object
 * a source hands out (tables and the registry hand out the same objects until they change), so
 * that a connection to the usual single server copies nothing.
 */
const soleAnswers = new WeakMap<ServerInfo, ServerInfo[]>();

function soleAnswer(server: ServerInfo): ServerInfo[] {
  let answer = soleAnswers.get(server);
  if (!answer) {
    answer = Object.freeze([Object.freeze(serverOnly(server))]) as ServerInfo[];
    soleAnswers.set(server, answer);
  }
  return answer;
}

/** A server's own fields, without a listing's id, service or origin. */
function serverOnly(server: ServerInfo): ServerInfo {
  const { host, port, priority, for: subject, tls, credentials, registered } = server;
  return {
    host,
    port,
    priority,
    ...(subject === undefined ? {} : { for: subject }),
    ...(tls === undefined ? {} : { tls }),
    ...(credentials === undefined ? {} : { credentials }),
    ...(registered === undefined ? {} : { registered }),
  };
}

/** The one server named across all answers; null when there is none; undefined when there are several. */
function soleServer(answers: readonly (readonly ServerInfo[])[]): ServerInfo | null | undefined {
  let only: ServerInfo | null = null;
  for (const answer of answers) {
    if (answer.length === 0) continue;
    if (answer.length > 1 || only !== null) return undefined;
    only = answer[0];
  }
  return only;
}
