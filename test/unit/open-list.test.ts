import fc from 'fast-check';
import { OpenList } from '../../net/open-list';

describe('OpenList', () => {
  test('keeps what is open, oldest first; an entry removes its value, once', () => {
    const list = new OpenList<string>();
    expect(list.size).toBe(0);
    expect(list.values()).toEqual([]);
    const a = list.add('a');
    const b = list.add('b');
    const c = list.add('c');
    expect(list.values()).toEqual(['a', 'b', 'c']);
    expect(list.size).toBe(3);
    b.remove();
    expect(list.values()).toEqual(['a', 'c']);
    b.remove();
    expect(list.size).toBe(2);
    expect(b.open).toBe(false);
    a.remove();
    c.remove();
    expect(list.values()).toEqual([]);
    expect(list.size).toBe(0);
    list.add('d');
    expect(list.values()).toEqual(['d']);
  });

  test('the same value added twice is two entries', () => {
    const list = new OpenList<string>();
    const first = list.add('x');
    list.add('x');
    first.remove();
    expect(list.values()).toEqual(['x']);
  });

  test('values() and entries() are copies: removing and adding while going through them is safe', () => {
    const list = new OpenList<number>();
    const entries = [1, 2, 3, 4].map((value) => list.add(value));
    const seen: number[] = [];
    for (const value of list.values()) {
      seen.push(value);
      entries[value - 1]!.remove();
      if (value === 2) list.add(5);
    }
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(list.values()).toEqual([5]);
    expect(list.entries().map((entry) => entry.value)).toEqual([5]);
  });

  test('an entry knows its list, and a removed one no other', () => {
    const one = new OpenList<string>();
    const other = new OpenList<string>();
    const entry = one.add('a');
    expect(entry.isIn(one)).toBe(true);
    expect(entry.isIn(other)).toBe(false);
    entry.remove();
    expect(entry.isIn(one)).toBe(false);
  });

  test('any order of adds and removes leaves what an array model leaves, in the same order', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant(-1), fc.nat(40)), { maxLength: 200 }), (steps) => {
        const list = new OpenList<number>();
        const entries: Array<ReturnType<OpenList<number>['add']>> = [];
        let model: number[] = [];
        let next = 0;
        for (const step of steps) {
          if (step === -1 || entries.length === 0) {
            entries.push(list.add(next));
            model.push(next++);
          } else {
            // Removing an entry again (or one removed long ago) changes nothing.
            const entry = entries[step % entries.length]!;
            entry.remove();
            model = model.filter((value) => value !== entry.value);
          }
          expect(list.size).toBe(model.length);
        }
        expect(list.values()).toEqual(model);
        expect(list.entries().map((entry) => entry.value)).toEqual(model);
      }),
    );
  });
});
