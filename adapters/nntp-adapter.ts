import { nntpRefusal } from '../protocols/nntp/replies';
import type { LineProtocol } from './line-relay';

/** NNTP: relayed transparently; refusals as `502 ...` (denied) or `400 ...` (unavailable). */
export const nntpProtocol: LineProtocol = { service: 'nntp', refusal: nntpRefusal };
