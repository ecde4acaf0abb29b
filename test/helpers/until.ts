/**
 * Waits until `check` holds, polling every `intervalMs`; throws naming `what`
 * when `timeoutMs` passes first. For conditions that other processes or the
 * event loop settle in their own time, where a fixed sleep would be flaky.
 */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000, intervalMs = 10): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
