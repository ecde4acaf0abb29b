import { listenTcp } from './net';

/**
 * A POP3 server with accounts: greets with its banner, checks USER/PASS,
 * answers STAT with an empty mailbox, and remembers who logged in, how many
 * connections it took and every line it was sent.
 */
export async function startPop3(banner: string, accounts: Record<string, string>) {
  const logins: string[] = [];
  const received: string[] = [];
  const connections = { count: 0 };
  const server = await listenTcp((socket) => {
    connections.count++;
    socket.write(`+OK ${banner}\r\n`);
    let buffer = '';
    let user = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (let at = buffer.indexOf('\r\n'); at !== -1; at = buffer.indexOf('\r\n')) {
        received.push(buffer.slice(0, at));
        const [verb, ...rest] = buffer.slice(0, at).split(' ');
        buffer = buffer.slice(at + 2);
        const argument = rest.join(' ');
        switch (verb.toUpperCase()) {
          case 'CAPA':
            socket.write('+OK\r\nUSER\r\n.\r\n');
            break;
          case 'USER':
            user = argument;
            socket.write('+OK\r\n');
            break;
          case 'PASS':
            if (accounts[user] === argument) {
              logins.push(user);
              socket.write(`+OK ${user} logged in\r\n`);
            } else socket.write('-ERR [AUTH] Authentication failed.\r\n');
            break;
          case 'STAT':
            socket.write('+OK 0 0\r\n');
            break;
          case 'QUIT':
            return void socket.end('+OK bye\r\n');
          default:
            socket.write('-ERR unknown command\r\n');
        }
      }
    });
  });
  return { ...server, logins, received, connections };
}

/** An NNTP server that greets with its banner, takes AUTHINFO for anyone, and knows one group. */
export async function startNntp(banner: string) {
  const logins: string[] = [];
  const server = await listenTcp((socket) => {
    socket.write(`200 ${banner}\r\n`);
    let buffer = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (let at = buffer.indexOf('\r\n'); at !== -1; at = buffer.indexOf('\r\n')) {
        const words = buffer.slice(0, at).split(' ');
        buffer = buffer.slice(at + 2);
        const verb = words[0].toUpperCase();
        if (verb === 'QUIT') return void socket.end('205 bye\r\n');
        if (verb === 'AUTHINFO' && words[1]?.toUpperCase() === 'USER') {
          logins.push(words[2] ?? '');
          socket.write('381 password please\r\n');
        } else if (verb === 'AUTHINFO') socket.write('281 welcome\r\n');
        else if (verb === 'CAPABILITIES') socket.write('101 capabilities\r\nVERSION 2\r\nAUTHINFO USER\r\nREADER\r\n.\r\n');
        else if (verb === 'MODE') socket.write(`200 ${banner}\r\n`);
        else if (verb === 'GROUP') socket.write('211 1 1 1 local.test\r\n');
        else socket.write('500 what?\r\n');
      }
    });
  });
  return { ...server, logins };
}
