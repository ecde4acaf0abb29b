import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's chromium (test/interop/servers/install.sh installs it); playwright never downloads a browser here. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Flags for a quiet, self-contained browser: no sandbox (CI containers run as root), no GPU,
 * and none of the background traffic (updates, sync, field trials, QUIC) a test must not depend on.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-quic',
  '--disable-sync',
  // An http_proxy in the environment must not sit between the browser and 127.0.0.1.
  '--no-proxy-server',
];

export interface Browser {
  /** The context's one page. */
  page: Page;
  context: BrowserContext;
  /** Closes the browser and removes its profile directory, whatever happened before. */
  close(): Promise<void>;
}

/**
 * Starts headless chromium with a fresh profile (its own `--user-data-dir`, so no cookie
 * or cache from another run) under the test run's temporary directory.
 */
export async function launchBrowser(): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'roamgate-chromium-'));
  let context: BrowserContext | undefined;
  let page: Page;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1024, height: 768 },
    });
    page = context.pages()[0] ?? (await context.newPage());
  } catch (error) {
    await context?.close().catch(() => undefined);
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
  const launched = context;
  let closed: Promise<void> | undefined;
  return {
    page,
    context: launched,
    close: () => {
      closed ??= (async () => {
        try {
          await launched.close();
        } finally {
          await rm(profile, { recursive: true, force: true, maxRetries: 3 });
        }
      })();
      return closed;
    },
  };
}
