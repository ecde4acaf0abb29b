import { hasGreeting, isReadyGreeting, quitCommand } from '../../protocols/greeting';

describe('isReadyGreeting', () => {
  test.each<['smtp' | 'pop3' | 'nntp' | 'imap', string, boolean]>([
    ['smtp', '220 mx.example.org ESMTP Postfix', true],
    ['smtp', '220-mx.example.org first line of a multi-line greeting', true],
    ['smtp', '220', true],
    ['smtp', '554 no SMTP service here', false],
    ['smtp', '421 try later', false],
    ['smtp', '2200 nonsense', false],
    ['smtp', ' 220 leading space', false],
    ['smtp', '+OK', false],
    ['smtp', '', false],
    ['pop3', '+OK Dovecot ready.', true],
    ['pop3', '+OK', true],
    ['pop3', '+OK\t<1896.697170952@dbc.mtview.ca.us>', true],
    ['pop3', '-ERR go away', false],
    ['pop3', '+OKAY', false],
    ['pop3', '+ok ready', false],
    ['pop3', '220 mx', false],
    ['nntp', '200 news.example.org InterNetNews server ready (posting ok)', true],
    ['nntp', '201 read-only', true],
    ['nntp', '200', true],
    ['nntp', '400 service temporarily unavailable', false],
    ['nntp', '502 access denied', false],
    ['nntp', '202 not a greeting', false],
    ['nntp', '2000', false],
    ['imap', '* OK [CAPABILITY IMAP4rev1 SASL-IR ID] Dovecot (Debian) ready.', true],
    ['imap', '* OK', true],
    ['imap', '* PREAUTH IMAP4rev1 server logged in as alice', true],
    ['imap', '* BYE too many connections', false],
    ['imap', '* NO not now', false],
    ['imap', '*OK', false],
    ['imap', '+OK ready', false],
  ])('%s %j -> %s', (service, line, expected) => {
    expect(isReadyGreeting(service, line)).toBe(expected);
  });
});

describe('hasGreeting and quitCommand', () => {
  test.each([
    ['smtp', true],
    ['pop3', true],
    ['nntp', true],
    ['http-proxy', false],
    ['imap', true],
    ['tcp', false],
    ['toString', false],
    ['__proto__', false],
  ])('hasGreeting(%j) is %s', (service, expected) => {
    expect(hasGreeting(service)).toBe(expected);
  });

  test.each(['smtp', 'pop3', 'nntp'] as const)('%s ends with QUIT', (service) => {
    expect(quitCommand(service)).toBe('QUIT\r\n');
  });

  test('imap ends with a tagged LOGOUT', () => {
    expect(quitCommand('imap')).toBe('rg LOGOUT\r\n');
  });
});
