import { GatewayOutage, type Outage, type OutageFacts, outageMessage } from '../../local/gateway-outage';
import { refusalFor } from '../../local/refusals';
import { RoamgateError } from '../../errors';
import { ManualClock } from '../helpers/clock';

const OLD = 'http://10.0.0.1:8080/roamgate';
const NEW = 'http://10.9.0.1:8080/roamgate';
const SILENT: Outage = { gateway: OLD, since: 0, reason: `the gateway at ${OLD} sent nothing on its event stream for 3 s`, silentMs: 3000 };

describe('outageMessage', () => {
  test.each<[string, OutageFacts, string]>([
    [
      'a configured gateway: it is tried again',
      { current: OLD, configured: true, user: 'alice' },
      `the gateway ${OLD} is not answering (the gateway at ${OLD} sent nothing on its event stream for 3 s); roamgate local keeps trying it: try again in a moment`,
    ],
    [
      'a discovered gateway: another is looked for',
      { current: OLD, configured: false, user: 'alice' },
      `the gateway ${OLD} is not answering (the gateway at ${OLD} sent nothing on its event stream for 3 s); roamgate local is looking for a gateway on this network: try again in a moment`,
    ],
    [
      'another gateway found, the login there under way: names the user given, never asks for one',
      { current: NEW, configured: false, user: 'alice' },
      `roamgate local is switching to the gateway ${NEW} and logging in as alice: try again in a moment`,
    ],
    [
      'another gateway found, no user (direct mode)',
      { current: NEW, configured: false },
      `roamgate local is switching to the gateway ${NEW}: try again in a moment`,
    ],
  ])('%s', (_name, facts, expected) => {
    const message = outageMessage(SILENT, facts);
    expect(message).toBe(expected);
    expect(message).not.toMatch(/--user/);
  });

  test('clients hear it as the temporary error of their protocol', () => {
    const error = new RoamgateError('ROAMGATE_GATEWAY_LOST', outageMessage(SILENT, { current: NEW, configured: false, user: 'alice' }));
    expect(refusalFor('smtp', error)).toMatch(/^421 4\.3\.0 roamgate local is switching to the gateway /);
    expect(refusalFor('pop3', error)).toMatch(/^-ERR \[SYS\/TEMP\] roamgate local is switching/);
    expect(refusalFor('nntp', error)).toMatch(/^400 roamgate local is switching/);
    expect(refusalFor('http-proxy', error)).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
  });
});

describe('GatewayOutage', () => {
  test('begins once (listeners told once), keeps the latest reason, ends with how long it lasted', () => {
    const clock = new ManualClock();
    const outage = new GatewayOutage(clock);
    const heard: Outage[] = [];
    outage.onBegin((begun) => heard.push({ ...begun }));
    expect(outage.current).toBeNull();
    expect(outage.end()).toBeNull();

    outage.begin(OLD, 'its event stream went silent', 3000);
    clock.advance(700);
    outage.begin(OLD, 'a connection through it failed');
    outage.note(`cannot reach the gateway at ${OLD} (ETIMEDOUT)`);
    expect(heard).toEqual([{ gateway: OLD, since: clock.monotonic() - 700, reason: 'its event stream went silent', silentMs: 3000 }]);
    expect(outage.current?.reason).toBe(`cannot reach the gateway at ${OLD} (ETIMEDOUT)`);

    clock.advance(1500);
    expect(outage.end()).toEqual({ outage: expect.objectContaining({ gateway: OLD }), lastedMs: 2200 });
    expect(outage.current).toBeNull();
    outage.note('ignored: no outage');
    expect(outage.current).toBeNull();
  });
});
