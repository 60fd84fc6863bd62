// tuf-js's Fetcher port over the agent's transport (transport.ts). Metadata comes into memory with its byte limit enforced
// while it streams (tuf-js's own BaseFetcher would stage it in a temporary file under os.tmpdir()). The
// timestamp the poll has just fetched is handed over, so a refresh does not download it twice.
import { BaseFetcher } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { SihlError } from '../../core/errors.ts';
import type { Transport } from './transport.ts';

export class PinnedFetcher extends BaseFetcher {
  readonly #client: Transport;
  readonly #primed = new Map<string, Uint8Array>();
  /** The last transport failure, so the agent can tell a dead network from bad metadata. */
  lastError: SihlError | undefined;
  /** The last bodies handed to tuf-js (metadata, each within its limit): what a refusal was about. */
  readonly fetched: Uint8Array[] = [];

  constructor(client: Transport) {
    super();
    this.#client = client;
  }

  /** The next download of `url` returns these bytes without a request (used once). */
  prime(url: string, bytes: Uint8Array): void {
    this.#primed.set(url, bytes);
  }

  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    const bytes = await this.#get(url, Number.MAX_SAFE_INTEGER);
    return new ReadableStream({
      start(controller) {
        controller.enqueue(new Uint8Array(bytes));
        controller.close();
      },
    });
  }

  override async downloadBytes(url: string, maxLength: number): Promise<Buffer> {
    return Buffer.from(await this.#get(url, maxLength));
  }

  override async downloadFile<T>(): Promise<T> {
    // tuf-js's downloadTarget writes a whole file and cannot resume or write to flash: the agent downloads
    // images itself (download.ts) and checks them against the target info tuf-js verified.
    throw new SihlError('INTERNAL', 'the agent does not download targets through tuf-js');
  }

  #keep(body: Uint8Array): void {
    this.fetched.push(body);
    if (this.fetched.length > 2) this.fetched.shift();
  }

  async #get(url: string, maxLength: number): Promise<Uint8Array> {
    const primed = this.#primed.get(url);
    if (primed) {
      this.#primed.delete(url);
      if (primed.length > maxLength) throw new SihlError('LIMIT_EXCEEDED', `${url}: over ${maxLength} bytes`);
      this.#keep(primed);
      return primed;
    }
    let response: Awaited<ReturnType<Transport['get']>>;
    try {
      response = await this.#client.get({ path: url, limit: maxLength });
    } catch (error) {
      if (error instanceof SihlError && error.family !== 'verification') this.lastError = error;
      throw error;
    }
    if (response.status === 200) {
      this.#keep(response.body);
      return response.body;
    }
    // tuf-js ends its walk over new root versions at a 404 or 403; anything else is a failure.
    const error = new DownloadHTTPError(`GET ${url}: HTTP ${response.status}`, response.status);
    if (response.status !== 404 && response.status !== 403) {
      this.lastError = new SihlError('SERVER_ERROR', `GET ${url}: HTTP ${response.status}`, { cause: error });
    }
    throw error;
  }
}
