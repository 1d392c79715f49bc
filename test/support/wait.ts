// One way to wait for something in a test: poll, and fail with `what` when it never happens.
export interface WaitOptions {
  /** What is being waited for, for the failure message. */
  what: string;
  timeoutMs?: number;
  intervalMs?: number;
}

export async function waitUntil(predicate: () => boolean | Promise<boolean>, options: WaitOptions): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what}`);
    await sleep(options.intervalMs ?? 20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
