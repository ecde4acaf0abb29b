import { smtpRefusal } from '../protocols/smtp/replies';
import type { LineProtocol } from './line-relay';

/** SMTP: relayed transparently; refusals as `554 5.7.1` (denied) or `421 4.3.0` (unavailable). */
export const smtpProtocol: LineProtocol = { service: 'smtp', refusal: smtpRefusal };
