/**
 * The things open now (connections, relays), oldest first, in a doubly linked
 * list: adding one returns its entry, and the entry removes it. There is no
 * look-up and no hash table.
 *
 * Why not a Map or a Set keyed by the connection: V8 replaces a Map's
 * storage every few dozen additions and removals. Once a long-lived Map's
 * storage is in the old generation, V8 allocates each replacement there too,
 * and the storage it replaces keeps its entries (V8's OrderedHashTable::Rehash
 * leaves them for iterators still on it). Until the next full GC, every
 * young-generation GC takes those old-to-young pointers as roots, so each
 * connection's sockets, state and record outlive it and are copied, then
 * promoted. With the listener's and
 * the tracked relays' Maps, the gateway promoted about 2.8 KB per short
 * connection; with these lists 1.5 KB (Node's floor: 1 KB). In interleaved
 * runs the gateway used 10-12% less CPU per connection and its p99 fell by
 * about a tenth (README, Benchmark).
 */
export class OpenList<T> {
  /** @internal the oldest entry */
  head: OpenEntry<T> | undefined;
  /** @internal the newest entry */
  tail: OpenEntry<T> | undefined;
  /** @internal */
  count = 0;

  /** How many are open. */
  get size(): number {
    return this.count;
  }

  /** Adds `value` as the newest; its entry removes it. */
  add(value: T): OpenEntry<T> {
    const entry = new OpenEntry(this, value);
    if (this.tail) this.tail.next = entry;
    else this.head = entry;
    this.tail = entry;
    this.count++;
    return entry;
  }

  /** The open values, oldest first: a copy, so removing or adding while going through it is safe. */
  values(): T[] {
    const values: T[] = [];
    for (let entry = this.head; entry; entry = entry.next) values.push(entry.value);
    return values;
  }

  /** The open entries, oldest first: a copy, as values(). */
  entries(): OpenEntry<T>[] {
    const entries: OpenEntry<T>[] = [];
    for (let entry = this.head; entry; entry = entry.next) entries.push(entry);
    return entries;
  }
}

/** One value in an OpenList. */
export class OpenEntry<T> {
  /** @internal */
  next: OpenEntry<T> | undefined;
  /** @internal */
  prev: OpenEntry<T> | undefined;

  constructor(
    private list: OpenList<T> | undefined,
    readonly value: T,
  ) {
    this.prev = list?.tail;
  }

  /** Whether it is still in its list. */
  get open(): boolean {
    return this.list !== undefined;
  }

  /** Whether it is in `list` now. */
  isIn(list: OpenList<T>): boolean {
    return this.list === list;
  }

  /** Takes the value out of its list; later calls do nothing. Its links are cleared, so a removed entry holds no other. */
  remove(): void {
    const list = this.list;
    if (!list) return;
    if (this.prev) this.prev.next = this.next;
    else list.head = this.next;
    if (this.next) this.next.prev = this.prev;
    else list.tail = this.prev;
    list.count--;
    this.list = undefined;
    this.prev = undefined;
    this.next = undefined;
  }
}
