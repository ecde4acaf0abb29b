import { Router } from 'express';
import type { StoreHealth } from '../../store/store';
import { publicStoreReason } from '../store-watch';

/** What readiness is made of: each answered now, without waiting. */
export interface Readiness {
  /** Whether listen() resolved and close() was not called. */
  serving(): boolean;
  /** Whether the store can be used now. */
  storeHealth(): StoreHealth;
  /** Whether the saved state (leases, rules, registrations) is loaded, still loading, or failed to load. */
  savedState(): 'loaded' | 'loading' | 'failed';
}

/** Why the gateway is not ready now; empty when it is. Says nothing of paths: readiness needs no login. */
export function notReadyReasons(readiness: Readiness): string[] {
  const reasons: string[] = [];
  if (!readiness.serving()) reasons.push('the adapters are not listening');
  const store = readiness.storeHealth();
  if (!store.ok) reasons.push(`the store cannot be used: ${publicStoreReason(store)}`);
  const saved = readiness.savedState();
  if (saved !== 'loaded') reasons.push(saved === 'loading' ? 'the saved state is still loading' : 'the saved state could not be loaded');
  return reasons;
}

/** Follows a promise's state, for readiness: what it is now, without waiting. */
export function settledState(promise: Promise<unknown>): () => 'loaded' | 'loading' | 'failed' {
  let state: 'loaded' | 'loading' | 'failed' = 'loading';
  promise.then(
    () => {
      state = 'loaded';
    },
    () => {
      state = 'failed';
    },
  );
  return () => state;
}

/**
 * GET /healthz (the process is up) and GET /readyz (it can serve: 503 with
 * the reasons when not). Neither needs a login or the store, so both are
 * mounted before anything that does.
 */
export function healthRoutes(readiness: Readiness): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });
  router.get('/readyz', (_req, res) => {
    const reasons = notReadyReasons(readiness);
    res.set('Cache-Control', 'no-store');
    if (reasons.length === 0) res.json({ status: 'ready' });
    else res.status(503).json({ status: 'not ready', reasons });
  });
  return router;
}
