// Two small pieces of the route agent's timing, pure so they are tested without a kernel or an API:
// the retry wait after a failed list or watch, and the serial runner that folds requests arriving
// while one is waiting into it.

/**
 * Retry waits double from 1 s up to 30 s, but never past one resync period (then the routes follow the API within one
 * resync of its return).
 */
export function nextBackoff(prevMs: number, resyncMs: number): number {
  return Math.min(prevMs * 2, Math.max(1000, Math.min(30_000, resyncMs)));
}

/**
 * Runs `fn` one call at a time, with at most one call waiting behind the running one: a request
 * made while a call waits joins it (`force` is or-ed), so a burst of requests (events faster than
 * netlink) costs one more call, not one queued call each. `idle` resolves when nothing is left.
 */
export class Serial {
  private tail: Promise<void> = Promise.resolve();
  private waiting: { force: boolean } | undefined;

  constructor(private readonly fn: (force: boolean) => Promise<void>) {}

  request(force: boolean): void {
    if (this.waiting) {
      this.waiting.force ||= force;
      return;
    }
    const next = { force };
    this.waiting = next;
    this.tail = this.tail
      .then(() => {
        this.waiting = undefined;
        return this.fn(next.force);
      })
      .catch(() => undefined);
  }

  get idle(): Promise<void> {
    return this.tail;
  }
}
