import fc from 'fast-check';
import { RoamgateError, type RoamgateErrorCode } from '../../errors';
import { refusalFor } from '../../local/refusals';
import { LOCAL_SERVICES, type LocalService } from '../../local/options';
import { anyRoamgateError, wireLines } from './arbitraries';

describe('refusalFor', () => {
  test.each<[LocalService, RoamgateErrorCode, RegExp]>([
    ['smtp', 'ROAMGATE_LOGIN_REQUIRED', /^421 4\.7\.0 lease revoked\r\n$/],
    ['pop3', 'ROAMGATE_LOGIN_REQUIRED', /^-ERR \[AUTH\] lease revoked\r\n$/],
    ['nntp', 'ROAMGATE_LOGIN_REQUIRED', /^400 lease revoked\r\n$/],
    // IMAP: ALERT, so the client shows the user the reason (RFC 9051 7.1).
    ['imap', 'ROAMGATE_LOGIN_REQUIRED', /^\* BYE \[ALERT\] lease revoked\r\n$/],
    ['imap', 'ROAMGATE_ACCESS_DENIED', /^\* BYE \[NOPERM\] lease revoked\r\n$/],
    ['imap', 'ROAMGATE_NO_SERVER', /^\* BYE \[UNAVAILABLE\] lease revoked\r\n$/],
    ['imap', 'ROAMGATE_GATEWAY_LOST', /^\* BYE \[UNAVAILABLE\] lease revoked\r\n$/],
    ['imap', 'ROAMGATE_LOGIN_THROTTLED', /^\* BYE \[UNAVAILABLE\] lease revoked\r\n$/],
    ['imap', 'ROAMGATE_LOGIN_FAILED', /^\* BYE \[ALERT\] lease revoked\r\n$/],
    [
      'http-proxy',
      'ROAMGATE_LOGIN_REQUIRED',
      /^HTTP\/1\.1 407 Proxy Authentication Required\r\n[\s\S]*Proxy-Authenticate: Bearer realm="roamgate local proxy"\r\n[\s\S]*\r\n\r\nlease revoked\n$/,
    ],
    ['smtp', 'ROAMGATE_ACCESS_DENIED', /^554 5\.7\.1 lease revoked\r\n$/],
    ['pop3', 'ROAMGATE_ACCESS_DENIED', /^-ERR \[SYS\/PERM\] lease revoked\r\n$/],
    ['nntp', 'ROAMGATE_ACCESS_DENIED', /^502 lease revoked\r\n$/],
    ['http-proxy', 'ROAMGATE_ACCESS_DENIED', /^HTTP\/1\.1 403 Forbidden\r\n/],
    ['smtp', 'ROAMGATE_UPSTREAM_REFUSED', /^421 4\.3\.0 lease revoked\r\n$/],
    ['pop3', 'ROAMGATE_NO_SERVER', /^-ERR \[SYS\/TEMP\] lease revoked\r\n$/],
    ['nntp', 'ROAMGATE_UPSTREAM_TIMEOUT', /^400 lease revoked\r\n$/],
    ['http-proxy', 'ROAMGATE_UPSTREAM_REFUSED', /^HTTP\/1\.1 502 Bad Gateway\r\n/],
    // The local proxy's own codes: a lost or missing gateway is a temporary failure, throttled logins a busy service, a refused login fixed by a new one.
    ['smtp', 'ROAMGATE_GATEWAY_LOST', /^421 4\.3\.0 lease revoked\r\n$/],
    ['pop3', 'ROAMGATE_GATEWAY_LOST', /^-ERR \[SYS\/TEMP\] lease revoked\r\n$/],
    ['nntp', 'ROAMGATE_GATEWAY_LOST', /^400 lease revoked\r\n$/],
    ['http-proxy', 'ROAMGATE_GATEWAY_LOST', /^HTTP\/1\.1 502 Bad Gateway\r\n/],
    ['smtp', 'ROAMGATE_NO_GATEWAY', /^421 4\.3\.0 lease revoked\r\n$/],
    ['http-proxy', 'ROAMGATE_NO_GATEWAY', /^HTTP\/1\.1 502 Bad Gateway\r\n/],
    ['smtp', 'ROAMGATE_LOGIN_THROTTLED', /^421 4\.3\.2 lease revoked\r\n$/],
    ['pop3', 'ROAMGATE_LOGIN_THROTTLED', /^-ERR \[SYS\/TEMP\] lease revoked\r\n$/],
    ['http-proxy', 'ROAMGATE_LOGIN_THROTTLED', /^HTTP\/1\.1 503 Service Unavailable\r\n/],
    ['smtp', 'ROAMGATE_LOGIN_FAILED', /^421 4\.7\.0 lease revoked\r\n$/],
    ['pop3', 'ROAMGATE_LOGIN_FAILED', /^-ERR \[AUTH\] lease revoked\r\n$/],
    ['nntp', 'ROAMGATE_LOGIN_FAILED', /^400 lease revoked\r\n$/],
    [
      'http-proxy',
      'ROAMGATE_LOGIN_FAILED',
      /^HTTP\/1\.1 407 Proxy Authentication Required\r\n[\s\S]*Proxy-Authenticate: Bearer realm="roamgate local proxy"\r\n/,
    ],
  ])('%s, %s', (service, code, expected) => {
    expect(refusalFor(service, new RoamgateError(code, 'lease revoked'))).toMatch(expected);
  });

  test('a line protocol refusal is always exactly one line, whatever the reason says', () => {
    fc.assert(
      fc.property(fc.constantFrom<LocalService>('smtp', 'pop3', 'imap', 'nntp'), anyRoamgateError, (service, error) => {
        expect(wireLines(refusalFor(service, error))).toHaveLength(1);
      }),
    );
  });

  test('a service roamgate does not speak gets no word, only the close, for every code', () => {
    fc.assert(
      fc.property(fc.constantFrom('telnet', 'line-echo', 'constructor'), anyRoamgateError, (service, error) => {
        expect(refusalFor(service, error)).toBe('');
      }),
    );
  });

  test('every service has an answer for every code', () => {
    fc.assert(
      fc.property(fc.constantFrom(...LOCAL_SERVICES), anyRoamgateError, (service, error) => {
        expect(refusalFor(service, error).length).toBeGreaterThan(0);
      }),
    );
  });
});
