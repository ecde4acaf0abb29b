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
export type { DirectoryOption, HostLogin, HostUser, Strategy } from './plugin/host-directory';
export type { IssueLeaseOptions } from './plugin/host-leases';
export type { ReloadResult } from './plugin/gateway-reload';
export type { WebGrant } from './plugin/web/web-guard';
export type { WebRouteOptions } from './plugin/web/web-route-options';
export type { WebProxyHandler } from './plugin/web/web-proxy';
export type { LeaseView } from './plugin/routes/login-routes';
/** For an upstream behind `gw.web`: checks the X-Roamgate-Assertion header (`web.assertionSecret`). */
export { verifyAssertion } from './plugin/web/web-assertion';
export type { WebAssertion } from './plugin/web/web-assertion';
export { RoamgateError, isRoamgateError } from './errors';
export type { RoamgateErrorCode } from './errors';
export * as defaults from './plugin/defaults';
export { startLocalProxy } from './local/local-proxy';
export type { LocalProxy, StartLocalProxyOptions } from './local/local-proxy';
export type { LocalProxyNotice } from './local/proxy-notices';
export { forgetNetwork } from './local/state-dir';
