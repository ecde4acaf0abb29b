import type { RunPostgres } from './postgres-session';
import type { NonceVerdict, Store } from './store';

/** The first key of the advisory locks nonces.admit takes, one per peer (the second is a hash of the peer's name). */
const NONCE_LOCK_CLASS = 0x6e6f6e63; // "nonc"

/**
 * The `peer_nonces` table: the nonces of signed peer requests, remembered
 * against replays. admit runs as one transaction under an advisory lock of
 * the peer's: two processes admitting for one peer at once take turns, so
 * neither can admit a nonce the other just admitted, nor both fill the
 * peer's last free place. Each admit forgets the peer's own nonces past
 * their time (only those decide its verdicts), so admits for different
 * peers never wait for each other.
 */
export function postgresPeerNonces(run: RunPostgres): Store['nonces'] {
  return {
    admit: (peer, nonce, forgetAt, now, maxPerPeer) =>
      run('nonces.admit', (db) =>
        db.transaction(async (): Promise<NonceVerdict> => {
          await db.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [NONCE_LOCK_CLASS, peer]);
          await db.query('DELETE FROM peer_nonces WHERE peer = $1 AND forget_at < $2', [peer, now]);
          // Each statement after the lock reads what the previous holder committed (READ COMMITTED).
          const seen = await db.query('SELECT 1 FROM peer_nonces WHERE peer = $1 AND nonce = $2', [peer, nonce]);
          if (seen.rowCount > 0) return 'replayed';
          const { rows } = await db.query<{ count: number }>('SELECT count(*) AS count FROM peer_nonces WHERE peer = $1', [peer]);
          if (rows[0]!.count >= maxPerPeer) return 'full';
          await db.query('INSERT INTO peer_nonces (peer, nonce, forget_at) VALUES ($1, $2, $3)', [peer, nonce, forgetAt]);
          return 'admitted';
        }),
      ),
  };
}
