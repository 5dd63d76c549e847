/**
 * What a test socket has received, taken in order by the test: `waitFor`
 * resolves as soon as an item not yet taken is there (or the deadline passes),
 * without polling. Shared by the JSON sockets (./sockets.ts) and the MQTT
 * client (./mqttClient.ts).
 */
export class Inbox<T> {
  readonly items: T[] = [];
  private taken = 0;
  private wake: (() => void) | null = null;

  push(item: T): void {
    this.items.push(item);
    this.wake?.();
  }

  /** Wakes a waiter with nothing new (e.g. the socket closed), so it looks again. */
  poke(): void {
    this.wake?.();
  }

  /** Whether an item not yet taken arrived within `ms`. */
  async waitFor(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.taken >= this.items.length) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
    return true;
  }

  /** The next item not yet taken (call after `waitFor` said there is one). */
  take(): T {
    return this.items[this.taken++]!;
  }

  /** The next item not yet taken, without taking it. */
  peek(): T | undefined {
    return this.items[this.taken];
  }
}
