// A configuration for nginx (Debian's package) that serves the store as static files with the same
// rules as sihl's own server (docs/SERVER.md §nginx in front): the certificate devices pin, strong
// ETags and 304s, one byte range, no listings, no hidden files, no symlinks, nothing outside the
// store; only device reports and the console go on to `sihl serve`. Pure: the CLI writes the text.
import { SihlError } from '../core/errors.ts';

export interface NginxConfigOptions {
  /** The store folder served (absolute). */
  readonly storeDir: string;
  /** PEM certificate devices pin and its private key (absolute paths). */
  readonly certPath: string;
  readonly keyPath: string;
  /** Where nginx listens for devices. */
  readonly host: string;
  readonly port: number;
  /** Where `sihl serve` listens (on loopback) for reports and the console. */
  readonly upstreamPort: number;
  /** Folder for nginx's pid file, logs and temporary files (absolute). */
  readonly prefix: string;
  /** Worker processes; 'auto' is one per core. */
  readonly workers: number | 'auto';
  /** The user workers run as when nginx starts as root (they must be able to read the store). */
  readonly user?: string;
  /** Reports per second per device address at nginx (sihl then sees only nginx's address). */
  readonly reportsPerSecond?: number;
}

/** What sihl's static files answer with (src/server/static-files.ts). */
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

/** nginx takes paths and names unquoted or in quotes; refuse anything that could break out of either. */
function checkWord(value: string, what: string): string {
  if (!/^[A-Za-z0-9/._:+@-]+$/.test(value)) {
    throw new SihlError(
      'USAGE',
      `${what} "${value}" has characters nginx would read as syntax; use a plainer path`,
    );
  }
  return value;
}

export function nginxConfig(o: NginxConfigOptions): string {
  const [store, cert, key, prefix] = [
    checkWord(o.storeDir, 'the store folder'),
    checkWord(o.certPath, 'the certificate'),
    checkWord(o.keyPath, 'the key'),
    checkWord(o.prefix, 'the prefix'),
  ];
  const host = o.host.includes(':') ? `[${checkWord(o.host, 'the host')}]` : checkWord(o.host, 'the host');
  const rate = o.reportsPerSecond ?? 10;
  return `${mainAndHttp(o, prefix, rate)}${serverBlock(o, { store, cert, key, host })}}\n`;
}

/** What sihl's server does for reports and the console: pass them on, over TLS checked against the pin. */
function proxyTo(cert: string): string {
  const lines = [
    'proxy_pass https://sihl;',
    'proxy_http_version 1.1;',
    'proxy_set_header Connection "";',
    'proxy_set_header Host $http_host;',
    // sihl's certificate names localhost; the upstream is checked against the same pinned certificate.
    'proxy_ssl_verify on;',
    `proxy_ssl_trusted_certificate ${cert};`,
    'proxy_ssl_name localhost;',
    'proxy_ssl_server_name on;',
    'proxy_ssl_session_reuse on;',
    'proxy_buffering off;',
  ];
  return lines.map((l) => `      ${l}`).join('\n');
}

/** The process, its files, and the http settings that mirror sihl's limits and caching rules. */
function mainAndHttp(o: NginxConfigOptions, prefix: string, rate: number): string {
  return `# nginx in front of sihl (docs/SERVER.md §nginx in front), made by \`sihl nginx-config\`.
# Start: nginx -c THIS_FILE    Reload after changes: nginx -c THIS_FILE -s reload    Stop: -s quit
# The store is served by nginx; reports and the console go to \`sihl serve --port ${o.upstreamPort}\`.
${o.user ? `user ${checkWord(o.user, 'the user')};\n` : ''}worker_processes ${o.workers};
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
worker_rlimit_nofile 65536;
events {
  worker_connections 16384;
}
http {
  access_log off;
  server_tokens off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  types {
    application/json json;
  }
  default_type application/octet-stream;
  charset off;
  sendfile on;
  tcp_nopush on;
  # sihl's limits: headers 10 s, a request 30 s, an idle kept-alive connection 5 s.
  client_header_timeout 10s;
  client_body_timeout 30s;
  send_timeout 30s;
  keepalive_timeout 5s;
  keepalive_requests 100000;
  # Files are replaced by rename when publishing: no descriptor cache, so a poll never sees an old file.
  open_file_cache off;
  etag on;
  max_ranges 1;
  limit_req_zone $binary_remote_addr zone=sihl_reports:10m rate=${rate}r/s;
  upstream sihl {
    server 127.0.0.1:${o.upstreamPort};
    keepalive 32;
  }
`;
}

/** The one server: the store as static files, with sihl's rules, and the proxied paths. */
function serverBlock(
  o: NginxConfigOptions,
  w: { readonly store: string; readonly cert: string; readonly key: string; readonly host: string },
): string {
  return `  server {
    listen ${w.host}:${o.port} ssl;
    ssl_certificate ${w.cert};
    ssl_certificate_key ${w.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:sihl_tls:10m;
    root ${w.store};
    autoindex off;
    # Only the components below the root are checked: the way to the store is the operator's.
    disable_symlinks on from=$document_root;
    location = /v1/reports {
      limit_req zone=sihl_reports burst=20 nodelay;
      client_max_body_size 64k;
${proxyTo(w.cert)}
    }
    location = /console {
${proxyTo(w.cert)}
    }
    location /console/ {
${proxyTo(w.cert)}
    }
    # Hidden names (the .tmp files of atomic writes) are never served.
    location ~ "/\\." {
      return 404;
    }
    location /targets/ {
      add_header Cache-Control "${IMMUTABLE}" always;
      try_files $uri =404;
    }
    location ~ "^/metadata/[0-9]+\\.(root|targets|snapshot)\\.json$" {
      add_header Cache-Control "${IMMUTABLE}" always;
      try_files $uri =404;
    }
    location / {
      limit_except GET {
        deny all;
      }
      add_header Cache-Control "${REVALIDATE}" always;
      try_files $uri =404;
    }
  }
`;
}
