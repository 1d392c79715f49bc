// The watcher's sleep: a duration the database computed (next_due - clock_timestamp()), cut
// short by a notification or a signal. The host clock only measures the duration; it never
// says what time it is.
export type WakeReason = 'due' | 'max-sleep' | 'notified' | 'listening' | 'stopping';

export class Sleeper {
  private wake: ((reason: WakeReason) => void) | undefined;
  /** A wake-up that came while no one slept (during a tick): the next sleep ends at once. */
  private pending: WakeReason | undefined;

  /** Sleeps `ms` (ending as `reason`), unless woken first. */
  sleep(ms: number, reason: WakeReason): Promise<WakeReason> {
    if (this.pending) {
      const early = this.pending;
      this.pending = undefined;
      return Promise.resolve(early);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(reason), Math.max(0, ms));
      const done = (why: WakeReason) => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(why);
      };
      this.wake = done;
    });
  }

  /** Ends the current sleep now (or the next one, when nobody sleeps). */
  interrupt(reason: WakeReason): void {
    if (this.wake) this.wake(reason);
    else if (this.pending !== 'stopping') this.pending = reason;
  }
}
