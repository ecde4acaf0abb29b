/**
 * roamgate: an Express gateway plugin that relays SMTP, POP3, NNTP and web
 * proxy traffic to the servers its server-info table names.
 */
export { roamgate } from './plugin/roamgate';
export type { Roamgate } from './plugin/roamgate';
export type { RoamgateOptions, Logger, AccessRule, PeerOptions } from './plugin/options';
export type { ServerInfo, ServerTls } from './server-info';
export type { ServerInfoSource, ServerEntry, ServerTable } from './sources/server-info-source';
export type { Identity, IdentifiedUser, HomeGrant, HomeService } from './identity';
export type { AccessDecision, AccessPolicy } from './access-decision';
export { RoamgateError, isRoamgateError } from './errors';
export type { RoamgateErrorCode } from './errors';
export * as defaults from './plugin/defaults';
export { startLocalProxy } from './local/local-proxy';
export type { LocalProxy, StartLocalProxyOptions } from './local/local-proxy';
export type { LocalProxyNotice } from './local/proxy-notices';
export { forgetNetwork } from './local/state-dir';
