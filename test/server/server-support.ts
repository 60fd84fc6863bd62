// Shared set-up of the server tests: a store folder, a registry with real simulated secure elements,
// the server on 127.0.0.1 with a fresh certificate, and HTTPS clients that pin it (one through
// node:https, one that writes raw bytes over TLS for requests node:https would refuse to send).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after } from 'node:test';
import { connect } from 'node:tls';
import { makeServerCertificate, type ServerCertificate } from '../../src/core/crypto/certificate.ts';
import { SECURE_ELEMENT_SECTORS } from '../../src/device/bootloader/layout.ts';
import { SimulatedFlash } from '../../src/device/flash/simulated-flash.ts';
import { SimulatedSecureElement } from '../../src/device/secure-element/simulated-secure-element.ts';
import { openRegistry, type Registry } from '../../src/publisher/registry.ts';
import { type RunningServer, type ServerOptions, startServer } from '../../src/server/server.ts';
import { openSqliteLogStore } from '../../src/storage/sqlite-log-store.ts';
import { makeTrust, tempDir } from '../helpers.ts';
import { type Answer, httpsRequest } from '../support/server.ts';

const certificate: Promise<ServerCertificate> = makeServerCertificate();
const trust = makeTrust();

export type Response = Answer;

/** A device's secure element, made the way the factory makes one. */
export function secureElement(): SimulatedSecureElement {
  const sectorSize = 4096;
  const flash = new SimulatedFlash({ size: SECURE_ELEMENT_SECTORS * sectorSize, sectorSize, writeSize: 8 });
  return SimulatedSecureElement.provision(flash, { offset: 0, size: flash.geometry.size }, trust.root);
}

export function provision(registry: Registry, element: SimulatedSecureElement, model = 'movehub'): string {
  const { sign, box } = element.identity();
  return registry.provision({ sign, box, model, owner: 'ACME', now: 1_800_000_000 }).id;
}

export interface Fixture {
  readonly dir: string;
  readonly store: string;
  readonly server: RunningServer;
  readonly registry: Registry;
  readonly logStore: ReturnType<typeof openSqliteLogStore>;
  readonly key: string;
  readonly cert: string;
  get(path: string, headers?: Record<string, string>, method?: string): Promise<Response>;
  post(path: string, body: Uint8Array, headers?: Record<string, string>): Promise<Response>;
  /** Raw bytes over a pinned TLS connection; resolves with what came back before the server closed. */
  raw(bytes: string | Uint8Array, waitMs?: number): Promise<string>;
}

export async function startFixture(options: Partial<ServerOptions> = {}): Promise<Fixture> {
  const dir = await tempDir();
  const store = join(dir, 'store');
  await mkdir(join(store, 'metadata'), { recursive: true });
  await writeFile(join(store, 'metadata', 'timestamp.json'), '{"signed":{"version":1}}');
  const registryPath = join(dir, 'registry.db');
  const registry = openRegistry(registryPath);
  const logStore = openSqliteLogStore(join(dir, 'logs.db'));
  const { key, cert } = await certificate;
  const server = await startServer({ storeDir: store, devices: registry, logStore, key, cert, ...options });
  after(async () => {
    await server.close();
    registry.close();
    await logStore.close();
  });
  const send = (method: string, path: string, headers: Record<string, string>, body?: Uint8Array) =>
    httpsRequest(
      undefined,
      { host: '127.0.0.1', port: server.port, path, method, headers, ca: cert, agent: false },
      body,
    );
  return {
    dir,
    store,
    server,
    registry,
    logStore,
    key,
    cert,
    get: (path, headers = {}, method = 'GET') => send(method, path, headers),
    post: (path, body, headers = { 'content-type': 'application/octet-stream' }) =>
      send('POST', path, headers, body),
    raw: (bytes, waitMs = 2000) =>
      new Promise((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: server.port, ca: cert, servername: 'localhost' });
        const parts: Buffer[] = [];
        const timer = setTimeout(() => {
          socket.destroy();
          resolve(Buffer.concat(parts).toString('latin1'));
        }, waitMs);
        socket.on('secureConnect', () => socket.write(bytes));
        socket.on('data', (d: Buffer) => parts.push(d));
        socket.on('close', () => {
          clearTimeout(timer);
          resolve(Buffer.concat(parts).toString('latin1'));
        });
        socket.on('error', (error) => {
          clearTimeout(timer);
          if (parts.length > 0) resolve(Buffer.concat(parts).toString('latin1'));
          else reject(error);
        });
      }),
  };
}
