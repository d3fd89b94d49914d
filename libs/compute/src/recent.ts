/**
 * Read-only values a process reads again and again, kept in memory up to a total
 * size in bytes; the one kept longest ago goes first.
 */
export class RecentByBytes<V> {
  private readonly entries = new Map<string, V>();

  constructor(
    private readonly limitBytes: number,
    private readonly bytesOf: (value: V) => number,
  ) {}

  get(key: string): V | undefined {
    return this.entries.get(key);
  }

  keep(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    let bytes = 0;
    for (const v of this.entries.values()) bytes += this.bytesOf(v);
    for (const [oldest, v] of this.entries) {
      if (bytes <= this.limitBytes) break;
      this.entries.delete(oldest);
      bytes -= this.bytesOf(v);
    }
  }
}
