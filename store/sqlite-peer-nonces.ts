import type Database from 'better-sqlite3';
import type { RunOperation } from './sqlite-operation';
import type { NonceVerdict, Store } from './store';

/** The `peer_nonces` table: the nonces of signed peer requests, remembered against replays. */
export function sqlitePeerNonces(db: Database.Database, run: RunOperation): Store['nonces'] {
  const statements = {
    forget: db.prepare<[number]>('DELETE FROM peer_nonces WHERE forget_at < ?'),
    seen: db.prepare<[string, string], { one: number }>('SELECT 1 AS one FROM peer_nonces WHERE peer = ? AND nonce = ?'),
    count: db.prepare<[string], { count: number }>('SELECT count(*) AS count FROM peer_nonces WHERE peer = ?'),
    insert: db.prepare<[string, string, number]>('INSERT INTO peer_nonces (peer, nonce, forget_at) VALUES (?, ?, ?)'),
  };
  // Forgets, looks and records in one write transaction (run IMMEDIATE), so two processes on one file cannot both admit a nonce.
  const admitNonce = db.transaction((peer: string, nonce: string, forgetAt: number, now: number, maxPerPeer: number): NonceVerdict => {
    statements.forget.run(now);
    if (statements.seen.get(peer, nonce)) return 'replayed';
    if (statements.count.get(peer)!.count >= maxPerPeer) return 'full';
    statements.insert.run(peer, nonce, forgetAt);
    return 'admitted';
  });
  return {
    admit: (peer, nonce, forgetAt, now, maxPerPeer) =>
      run('nonces.admit', () => admitNonce.immediate(peer, nonce, forgetAt, now, maxPerPeer)),
  };
}
