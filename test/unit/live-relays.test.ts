import { LiveRelays, type LiveRelay } from '../../adapters/live-relays';
import type { Identity } from '../../identity';

const user = (id: string): Identity => ({ kind: 'user', address: '192.0.2.7', user: { id, attributes: {} }, leaseId: `lease-${id}` });
const anonymous: Identity = { kind: 'anonymous', address: '192.0.2.9' };

/** A relay that records the reasons it was closed with. */
function relay(service: string, identity: Identity): LiveRelay & { closedWith: string[] } {
  const closedWith: string[] = [];
  return { ...fields(service, identity), closedWith, close: (reason) => closedWith.push(reason) };
}

/** What every relay shows besides its service, identity and close. */
function fields(service: string, identity: Identity) {
  return {
    service,
    identity,
    client: `${identity.address}:40000`,
    startedAt: 1_700_000_000_000,
    progress: () => ({ bytesFromClient: 0, bytesFromServer: 0 }),
  };
}

describe('LiveRelays', () => {
  test('add counts a relay; the returned function removes it, once', () => {
    const relays = new LiveRelays();
    expect(relays.size).toBe(0);
    const removeA = relays.add(relay('smtp', user('alice')));
    relays.add(relay('pop3', anonymous));
    expect(relays.size).toBe(2);
    removeA();
    expect(relays.size).toBe(1);
    removeA();
    expect(relays.size).toBe(1);
  });

  test('adding the same relay twice keeps one', () => {
    const relays = new LiveRelays();
    const one = relay('smtp', anonymous);
    relays.add(one);
    relays.add(one);
    expect(relays.size).toBe(1);
  });

  test('closeWhere closes only the matching relays, with the reason, and forgets them', () => {
    const relays = new LiveRelays();
    const aliceSmtp = relay('smtp', user('alice'));
    const alicePop = relay('pop3', user('alice'));
    const bobSmtp = relay('smtp', user('bob'));
    const anon = relay('smtp', anonymous);
    for (const each of [aliceSmtp, alicePop, bobSmtp, anon]) relays.add(each);

    const closed = relays.closeWhere((each) => each.identity.kind === 'user' && each.identity.user.id === 'alice', 'lease revoked');
    expect(closed).toBe(2);
    expect(aliceSmtp.closedWith).toEqual(['lease revoked']);
    expect(alicePop.closedWith).toEqual(['lease revoked']);
    expect(bobSmtp.closedWith).toEqual([]);
    expect(anon.closedWith).toEqual([]);
    expect(relays.size).toBe(2);

    // Closed relays are gone: a second pass closes nothing more.
    expect(relays.closeWhere(() => true, 'shutting down')).toBe(2);
    expect(aliceSmtp.closedWith).toEqual(['lease revoked']);
    expect(bobSmtp.closedWith).toEqual(['shutting down']);
    expect(anon.closedWith).toEqual(['shutting down']);
    expect(relays.size).toBe(0);
  });

  test('closeWhere with nothing matching closes nothing and returns 0', () => {
    const relays = new LiveRelays();
    const one = relay('smtp', anonymous);
    relays.add(one);
    expect(relays.closeWhere((each) => each.service === 'nntp', 'x')).toBe(0);
    expect(one.closedWith).toEqual([]);
    expect(relays.size).toBe(1);
  });

  test('closeWhere on an empty set returns 0', () => {
    expect(new LiveRelays().closeWhere(() => true, 'x')).toBe(0);
  });

  test('a relay that removes itself when closed (as adapters do) is counted once and the rest are still reached', () => {
    const relays = new LiveRelays();
    const all = ['a', 'b', 'c'].map((id) => {
      const closedWith: string[] = [];
      const self: LiveRelay & { closedWith: string[] } = {
        ...fields('smtp', user(id)),
        closedWith,
        close: (reason) => {
          closedWith.push(reason);
          remove();
        },
      };
      const remove = relays.add(self);
      return self;
    });
    expect(relays.closeWhere(() => true, 'bye')).toBe(3);
    expect(all.map((each) => each.closedWith)).toEqual([['bye'], ['bye'], ['bye']]);
    expect(relays.size).toBe(0);
  });

  test('a relay that an earlier relay ended during the pass (its close cut the other) is not closed again, nor counted', () => {
    const relays = new LiveRelays();
    const second = relay('smtp', anonymous);
    let removeSecond = (): void => undefined;
    relays.add({ ...fields('smtp', anonymous), close: () => removeSecond() });
    removeSecond = relays.add(second);
    expect(relays.closeWhere(() => true, 'x')).toBe(1);
    expect(second.closedWith).toEqual([]);
    expect(relays.size).toBe(0);
  });

  test('a relay tracked by two gateways is in each, and removed from each by its own function', () => {
    const here = new LiveRelays();
    const there = new LiveRelays();
    const one = relay('smtp', anonymous);
    const removeHere = here.add(one);
    const removeThere = there.add(one);
    expect([here.size, there.size]).toEqual([1, 1]);
    removeHere();
    expect([here.size, there.size]).toEqual([0, 1]);
    // Added again here while tracked there: a new entry here.
    here.add(one);
    expect(here.size).toBe(1);
    removeThere();
    expect([here.size, there.size]).toEqual([1, 0]);
  });

  test('a relay added while closeWhere runs is not closed by that pass', () => {
    const relays = new LiveRelays();
    const late = relay('smtp', anonymous);
    relays.add({ ...fields('smtp', anonymous), close: () => void relays.add(late) });
    expect(relays.closeWhere(() => true, 'x')).toBe(1);
    expect(late.closedWith).toEqual([]);
    expect(relays.size).toBe(1);
  });

  test('each relay gets its own id; list shows them oldest first; closeById closes that one only, once', () => {
    const relays = new LiveRelays();
    const first = relay('smtp', user('alice'));
    const second = relay('pop3', user('bob'));
    relays.add(first);
    relays.add(first);
    relays.add(second);
    const listed = relays.list();
    expect(listed.map((each) => each.relay)).toEqual([first, second]);
    const [a, b] = listed.map((each) => each.id);
    expect(a).not.toBe(b);
    expect(relays.closeById(b, 'cut by an admin')).toBe(true);
    expect(second.closedWith).toEqual(['cut by an admin']);
    expect(first.closedWith).toEqual([]);
    expect(relays.closeById(b, 'again')).toBe(false);
    expect(relays.closeById('no-such-id', 'x')).toBe(false);
    expect(relays.list().map((each) => each.id)).toEqual([a]);
  });

  test('a relay added again after it ended gets a new id', () => {
    const relays = new LiveRelays();
    const one = relay('smtp', anonymous);
    const remove = relays.add(one);
    const before = relays.list()[0].id;
    remove();
    relays.add(one);
    expect(relays.list()[0].id).not.toBe(before);
  });
});
