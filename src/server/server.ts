// sihl's embedded HTTPS server (docs/SERVER.md): the store, read-only, for devices to poll and download
// from, and POST /v1/reports for their signed status reports. Devices pin its self-signed certificate.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type Clock, systemClock } from '../core/clock.ts';
import { SihlError } from '../core/errors.ts';
import type { LogStore } from '../storage/log-store.ts';
import type { DeviceLookup } from './device-lookup.ts';
import { ReportIntake } from './report-intake.ts';
import { StaticFiles } from './static-files.ts';
import type { RateLimit } from './token-buckets.ts';

export const REPORTS_PATH = '/v1/reports';

export interface ServerLimits {
  /** Whole request, headers and body (server.requestTimeout). */
  readonly requestTimeoutMs: number;
  /** Headers, and the TLS handshake before them. */
  readonly headersTimeoutMs: number;
  /** An idle kept-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /**
   * Open connections at once; more are refused until some close. Each costs about 80 KiB under TLS,
   * Node's own floor (docs/SERVER.md §Memory), so the default of 16,384 holds a fleet of 10,000 polling at
   * once in about 0.9 GiB and at most about 1.4 GiB.
   */
  readonly maxConnections: number;
  readonly reportsPerDevice: RateLimit;
  readonly reportsPerAddress: RateLimit;
}

export const DEFAULT_LIMITS: ServerLimits = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 16_384,
  reportsPerDevice: { burst: 10, perMinute: 6 },
  reportsPerAddress: { burst: 200, perMinute: 600 },
};

export interface RequestLog {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** The Content-Length answered (of the headers only, for HEAD). */
  readonly bytes: number;
  readonly ms: number;
  readonly remote: string;
}

export interface ServerOptions {
  readonly storeDir: string;
  /** Finds a registered device by id (the registry): whose reports are accepted. */
  readonly devices: DeviceLookup;
  readonly logStore: LogStore;
  /** PEM private key and certificate (certificate-files.ts). */
  readonly key: string;
  readonly cert: string;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  readonly limits?: Partial<ServerLimits>;
  readonly now?: Clock;
  /** Called once per finished request (for `sihl serve --verbose`). */
  readonly onRequest?: (entry: RequestLog) => void;
  /** A request failed on a bug (it was answered 500). Default: one line on stderr. */
  readonly onError?: (error: unknown, request: string) => void;
  /** The operators' web console (src/server/console): every request under /console goes to it. */
  readonly console?: { handle(req: IncomingMessage, res: ServerResponse): Promise<number> };
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /** Stops accepting and ends open connections. The ports given stay the caller's to close. */
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Routes a request: /console to the console, reports to the intake, the rest to the store's files. */
function requestHandler(options: ServerOptions, files: StaticFiles, intake: ReportIntake): Handler {
  const { onRequest } = options;
  const onError = options.onError ?? logError;
  return (req, res) => {
    const started = onRequest ? performance.now() : 0;
    const path = req.url ?? '';
    let length = 0;
    if (onRequest) {
      // Only when logging: the handlers pass their headers to writeHead, where getHeader cannot see them.
      const writeHead = res.writeHead.bind(res) as (s: number, h?: OutgoingHttpHeaders) => ServerResponse;
      res.writeHead = ((status: number, headers?: OutgoingHttpHeaders) => {
        length = Number(headers?.['content-length'] ?? 0);
        return writeHead(status, headers);
      }) as typeof res.writeHead;
    }
    const route =
      options.console && /^\/console(?:[/?]|$)/.test(path)
        ? options.console.handle(req, res)
        : path === REPORTS_PATH || path.startsWith(`${REPORTS_PATH}?`)
          ? intake.handle(req, res)
          : req.method === 'GET' || req.method === 'HEAD'
            ? files.serve(req, res)
            : Promise.resolve(notAllowed(res));
    route
      .then((status) => {
        if (!onRequest) return;
        const log = () =>
          onRequest({
            method: req.method ?? '',
            path: path.slice(0, 200),
            status,
            bytes: length,
            ms: Math.round((performance.now() - started) * 10) / 10,
            remote: req.socket.remoteAddress ?? '',
          });
        if (res.writableFinished) log();
        else res.once('close', log);
      })
      .catch((error: unknown) => {
        // A bug: the client learns nothing of it, the operator reads it in the server's log.
        onError(error, `${req.method} ${path.slice(0, 200)}`);
        if (!res.headersSent) res.writeHead(500, { 'content-length': 0 });
        res.end();
      });
  };
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const host = options.host ?? '127.0.0.1';
  const files = await StaticFiles.open(options.storeDir);
  const intake = new ReportIntake({
    devices: options.devices,
    logStore: options.logStore,
    now: options.now ?? systemClock,
    deviceLimit: limits.reportsPerDevice,
    addressLimit: limits.reportsPerAddress,
  });
  let server: Server;
  try {
    server = createServer(
      {
        key: options.key,
        cert: options.cert,
        minVersion: 'TLSv1.2',
        handshakeTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        headersTimeout: limits.headersTimeoutMs,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        // Timeouts are only checked this often, so short test timeouts need a short interval.
        connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(limits.headersTimeoutMs / 4))),
        maxHeaderSize: 8 * 1024,
      },
      requestHandler(options, files, intake),
    );
  } catch (error) {
    throw new SihlError('USAGE', `the TLS key or certificate is not usable: ${(error as Error).message}`);
  }
  server.maxConnections = limits.maxConnections;

  await new Promise<void>((resolve, reject) => {
    const fail = (error: NodeJS.ErrnoException) => {
      reject(
        new SihlError(
          'IO_ERROR',
          `cannot listen on ${host}:${options.port ?? 0}: ${error.code ?? error.message}`,
        ),
      );
    };
    server.once('error', fail);
    // A fleet that reconnects at once (after an outage) fills the default 511-entry accept queue; the
    // kernel caps this at net.core.somaxconn.
    server.listen({ port: options.port ?? 0, host, backlog: 8192 }, () => {
      server.off('error', fail);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function logError(error: unknown, request: string): void {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`${new Date().toISOString()} ${request} answered 500: ${text}\n`);
}

function notAllowed(res: ServerResponse): number {
  res.writeHead(405, { allow: 'GET, HEAD', 'content-length': 0 });
  res.end();
  return 405;
}
