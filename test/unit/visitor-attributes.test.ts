import fc from 'fast-check';
import { mapAttributes, type AttributeMapping } from '../../plugin/visitor-attributes';

describe('mapAttributes', () => {
  const home = { department: 'sales', role: 'admin', mail: 'alice@home.example', realm: 'evil.example' };

  test.each<[string, Record<string, string>, AttributeMapping, Record<string, string>]>([
    ['keeps nothing by default', home, { keep: [], set: {} }, { realm: 'home.example' }],
    [
      'keeps the listed names',
      home,
      { keep: ['department', 'mail'], set: {} },
      { department: 'sales', mail: 'alice@home.example', realm: 'home.example' },
    ],
    [
      'skips listed names home does not have',
      home,
      { keep: ['department', 'phone'], set: {} },
      { department: 'sales', realm: 'home.example' },
    ],
    ['keeps an empty value', { note: '' }, { keep: ['note'], set: {} }, { note: '', realm: 'home.example' }],
    [
      'adds the set ones',
      home,
      { keep: [], set: { site: 'visitor', tier: 'guest' } },
      { site: 'visitor', tier: 'guest', realm: 'home.example' },
    ],
    [
      'a set value overrides a kept one',
      home,
      { keep: ['department'], set: { department: 'visitors' } },
      { department: 'visitors', realm: 'home.example' },
    ],
    ['realm cannot be kept from home', home, { keep: ['realm'], set: {} }, { realm: 'home.example' }],
    ['realm cannot be set either', home, { keep: [], set: { realm: 'other.example' } }, { realm: 'home.example' }],
  ])('%s', (_name, from, mapping, expected) => {
    const mapped = mapAttributes(from, mapping, 'home.example');
    expect(mapped).toStrictEqual(expected);
    expect(Object.keys(mapped).at(-1)).toBe('realm');
  });

  test('does not change its inputs', () => {
    const from = { ...home };
    const mapping = { keep: ['department'], set: { site: 'visitor' } };
    mapAttributes(from, mapping, 'home.example');
    expect(from).toEqual(home);
    expect(mapping).toEqual({ keep: ['department'], set: { site: 'visitor' } });
  });

  describe('names that exist on every object', () => {
    const inherited = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

    test.each([
      ['a plain object', {} as Record<string, string>],
      ['JSON.parse', JSON.parse('{"department":"sales"}')],
      ['Object.create(null)', Object.create(null)],
    ])('are not picked up from %s that does not have them', (_name, from) => {
      const mapped = mapAttributes(from, { keep: inherited, set: {} }, 'home.example');
      expect(Object.keys(mapped)).toEqual(['realm']);
      expect(Object.getPrototypeOf(mapped)).toBe(Object.prototype);
    });

    test("are picked up when they are the home's own attributes", () => {
      const from = JSON.parse('{"constructor":"c","toString":"t","valueOf":"v"}');
      expect(mapAttributes(from, { keep: ['constructor', 'toString', 'valueOf'], set: {} }, 'home.example')).toStrictEqual({
        constructor: 'c',
        toString: 't',
        valueOf: 'v',
        realm: 'home.example',
      });
    });

    test('work from an object without a prototype', () => {
      const from = Object.assign(Object.create(null), { department: 'sales', constructor: 'c' });
      expect(mapAttributes(from, { keep: ['department', 'constructor', 'toString'], set: {} }, 'home.example')).toStrictEqual({
        department: 'sales',
        constructor: 'c',
        realm: 'home.example',
      });
    });

    test('an own __proto__ attribute from home never becomes the prototype of the result', () => {
      const from = JSON.parse('{"__proto__":{"role":"admin"},"department":"sales"}');
      const mapped = mapAttributes(from, { keep: ['__proto__', 'department'], set: {} }, 'home.example');
      expect(Object.getPrototypeOf(mapped)).toBe(Object.prototype);
      expect((mapped as Record<string, unknown>).role).toBeUndefined();
      expect(mapped.department).toBe('sales');
      expect(mapped.realm).toBe('home.example');
    });
  });

  test('property: the result is exactly the kept own names, then set, then realm', () => {
    const name = fc.constantFrom('a', 'b', 'c', 'd', 'realm', 'role', 'constructor', 'toString');
    fc.assert(
      fc.property(fc.dictionary(name, fc.string()), fc.array(name), fc.dictionary(name, fc.string()), (from, keep, set) => {
        const mapped = mapAttributes(from, { keep, set }, 'home.example');
        const expected: Record<string, string> = {};
        for (const key of keep) if (Object.keys(from).includes(key)) expected[key] = from[key];
        Object.assign(expected, set);
        expected.realm = 'home.example';
        expect(mapped).toStrictEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});
