import type { Identity } from '../identity';

/** The subject grammar shared by access rules and per-user server entries. */
export const SUBJECT_PATTERN = /^(anonymous|authenticated|user:[^\s=]+|[A-Za-z0-9_.-]+=[^\s]*)$/;

/**
 * How specifically a subject names an identity; 0 when it does not match.
 *
 *   user:<id>           4
 *   <attribute>=<value> 3
 *   authenticated       2  (any logged-in user)
 *   anonymous           1  (only clients that are not logged in)
 */
export function subjectRank(subject: string, identity: Identity): number {
  if (subject === 'anonymous') return identity.kind === 'anonymous' ? 1 : 0;
  if (identity.kind !== 'user') return 0;
  if (subject === 'authenticated') return 2;
  if (subject.startsWith('user:')) return subject.slice(5) === identity.user.id ? 4 : 0;
  const equals = subject.indexOf('=');
  const name = subject.slice(0, equals);
  return Object.hasOwn(identity.user.attributes, name) && identity.user.attributes[name] === subject.slice(equals + 1) ? 3 : 0;
}
