/**
 * Runs one synchronous better-sqlite3 operation as the Store contract's
 * promise: every failure, SQLite's included, arrives as a rejected promise
 * carrying a RoamgateError that names `operation` (`users.get`).
 */
export type RunOperation = <T>(operation: string, body: () => T) => Promise<T>;
