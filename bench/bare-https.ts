// The floor under `sihl serve`: Node's own HTTPS server and nothing of sihl's, answering one file the way
// sihl does (a strong ETag, 304 on a match, 200 with the body otherwise) with the same TLS settings and
// timeouts as src/server/server.ts's defaults. The memory bench (bench/memory.ts) holds the same
// connections to it as to `sihl serve`, so the difference between the two is sihl's own.
// `node bench/bare-https.ts PORT KEY CERT FILE` listens on 127.0.0.1:PORT until killed.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { sha256 } from '../src/core/crypto/hash.ts';
import { toHex } from '../src/core/format/bytes.ts';

const [port, keyPath, certPath, filePath] = process.argv.slice(2) as [string, string, string, string];
const body = readFileSync(filePath);
const etag = `"${toHex(sha256(body).subarray(0, 16))}"`;
const headers = { 'content-type': 'application/json', 'content-length': body.length, etag };

const server = createServer(
  {
    key: readFileSync(keyPath, 'utf8'),
    cert: readFileSync(certPath, 'utf8'),
    minVersion: 'TLSv1.2',
    handshakeTimeout: 10_000,
    requestTimeout: 30_000,
    headersTimeout: 10_000,
    keepAliveTimeout: 5_000,
    connectionsCheckingInterval: 2_500,
  },
  (req, res) => {
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag });
      res.end();
    } else {
      res.writeHead(200, headers);
      res.end(body);
    }
  },
);
server.maxConnections = 16_384;
server.listen({ port: Number(port), host: '127.0.0.1', backlog: 8192 });
process.once('SIGTERM', () => process.exit(0));
