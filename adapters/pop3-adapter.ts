import { pop3Refusal } from '../protocols/pop3/replies';
import type { LineProtocol } from './line-relay';

/** POP3: relayed transparently; refusals as `-ERR [SYS/PERM] ...` or `-ERR [SYS/TEMP] ...`. */
export const pop3Protocol: LineProtocol = { service: 'pop3', refusal: pop3Refusal };
