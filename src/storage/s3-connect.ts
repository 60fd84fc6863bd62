// An S3 client configured from the environment: the AWS SDK's default credential chain (environment,
// shared profiles, SSO, container and instance roles), or an S3-compatible server named by SIHL_S3_ENDPOINT.
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { SihlError } from '../core/errors.ts';
import type { Env } from './azure-connect.ts';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const TRUE = new Set(['1', 'true', 'yes']);

export function s3ClientFromEnv(env: Env): S3Client {
  const config: S3ClientConfig = {};
  const endpoint = env.SIHL_S3_ENDPOINT;
  if (endpoint) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new SihlError('USAGE', 'SIHL_S3_ENDPOINT is not a URL');
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
      throw new SihlError(
        'USAGE',
        'SIHL_S3_ENDPOINT must be an https URL (http only on 127.0.0.1 or localhost)',
      );
    }
    if (url.username !== '' || url.password !== '' || url.search !== '') {
      throw new SihlError('USAGE', 'SIHL_S3_ENDPOINT must not hold credentials or a query');
    }
    config.endpoint = endpoint;
    // Compatible servers mostly want path-style addressing and plain (unframed) payloads.
    config.forcePathStyle =
      env.SIHL_S3_FORCE_PATH_STYLE === undefined || TRUE.has(env.SIHL_S3_FORCE_PATH_STYLE);
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
    config.responseChecksumValidation = 'WHEN_REQUIRED';
  } else if (env.SIHL_S3_FORCE_PATH_STYLE !== undefined) {
    config.forcePathStyle = TRUE.has(env.SIHL_S3_FORCE_PATH_STYLE);
  }
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (endpoint ? 'us-east-1' : undefined);
  if (region !== undefined) config.region = region;
  // Keys in the given environment are used as they are; otherwise the SDK's chain looks them up.
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    config.credentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      sessionToken: env.AWS_SESSION_TOKEN,
    };
  }
  return new S3Client(config);
}
