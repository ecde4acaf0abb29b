import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { roamgate, type Roamgate } from '../../plugin/roamgate';
import type { Logger, RoamgateOptions } from '../../plugin/options';
import type { ConnectionRecord } from '../../adapters/gateway-context';
import { until } from './until';

/** A logger that keeps what it is told, so tests can assert on the record. */
export class CapturingLogger implements Logger {
  readonly lines: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = [];
  info(obj: object, msg?: string) {
    this.lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg });
  }
  warn(obj: object, msg?: string) {
    this.lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg });
  }
  error(obj: object, msg?: string) {
    this.lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg });
  }
  /** The per-connection records, in order. */
  records(): ConnectionRecord[] {
    return this.lines.filter((line) => line.obj.event === 'relay').map((line) => line.obj as unknown as ConnectionRecord);
  }
  /** Resolves once `count` records exist (relays are recorded when they end). */
  async waitForRecords(count: number, timeoutMs = 5000): Promise<ConnectionRecord[]> {
    await until(
      () => this.records().length >= count,
      () => `${count} records (have ${this.records().length})`,
      timeoutMs,
      20,
    );
    return this.records();
  }
}

export interface TestGateway {
  gateway: Roamgate;
  ports: Record<string, number>;
  logger: CapturingLogger;
  /** The management API served on 127.0.0.1 (when `http` was asked for). */
  app: express.Express;
  http?: Server;
  close(): Promise<void>;
}

/** Starts a gateway on ephemeral ports with health checks off unless asked, and a capturing logger. */
export async function startGateway(options: RoamgateOptions, serveHttp = false): Promise<TestGateway> {
  const logger = new CapturingLogger();
  const gateway = roamgate({ health: { enabled: false }, ...options, logger });
  const app = express();
  app.use('/roamgate', gateway.router);
  let http: Server | undefined;
  if (serveHttp) {
    http = await new Promise<Server>((resolve) => {
      const server = app.listen(0, '127.0.0.1', () => resolve(server));
    });
    gateway.attach(http);
  }
  const bound = await gateway.listen();
  const ports = Object.fromEntries(Object.entries(bound).map(([service, address]) => [service, (address as AddressInfo).port]));
  return {
    gateway,
    ports,
    logger,
    app,
    http,
    close: async () => {
      await gateway.close();
      if (http) {
        http.closeAllConnections();
        await new Promise((resolve) => http!.close(resolve));
      }
    },
  };
}
