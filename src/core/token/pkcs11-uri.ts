// Key references on a PKCS#11 token, as RFC 7512 URIs: `pkcs11:token=LABEL;object=LABEL` with the
// optional query attributes `module-path` (the token's PKCS#11 library) and `pin-source` (a file holding
// the PIN). A PIN inside the URI (`pin-value`) is refused: URIs end up in shell history, configs and logs.
import { SihlError } from '../errors.ts';

export interface Pkcs11Reference {
  /** CKA_LABEL of the token (its CK_TOKEN_INFO label). */
  readonly token: string;
  /** CKA_LABEL of the key objects (private and public key share it). */
  readonly object: string;
  readonly modulePath?: string;
  readonly pinSource?: string;
}

const SCHEME = 'pkcs11:';
const PATH_ATTRIBUTES = new Set(['token', 'object', 'type', 'id', 'manufacturer', 'model', 'serial']);
const QUERY_ATTRIBUTES = new Set(['module-path', 'pin-source', 'pin-value']);

export function isPkcs11Reference(text: string): boolean {
  return text.toLowerCase().startsWith(SCHEME);
}

/** RFC 7512 §2.3: attribute values are UTF-8, percent-encoded where needed. */
function decodeValue(value: string, what: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new SihlError('USAGE', `PKCS#11 URI: the ${what} value is not valid percent-encoding`);
  }
}

function attributes(part: string, separator: string, known: Set<string>, where: string) {
  const out = new Map<string, string>();
  if (part === '') return out;
  for (const pair of part.split(separator)) {
    const at = pair.indexOf('=');
    const name = (at < 0 ? pair : pair.slice(0, at)).toLowerCase();
    if (at < 0 || !known.has(name)) {
      throw new SihlError('USAGE', `PKCS#11 URI: unknown or empty ${where} attribute "${name}"`);
    }
    if (out.has(name)) throw new SihlError('USAGE', `PKCS#11 URI: "${name}" is given twice`);
    out.set(name, decodeValue(pair.slice(at + 1), name));
  }
  return out;
}

/** Parses a key reference; names the problem without repeating anything that could be a secret. */
export function parsePkcs11Reference(text: string): Pkcs11Reference {
  if (!isPkcs11Reference(text)) throw new SihlError('USAGE', 'a PKCS#11 key reference starts with "pkcs11:"');
  const rest = text.slice(SCHEME.length);
  const q = rest.indexOf('?');
  const path = attributes(q < 0 ? rest : rest.slice(0, q), ';', PATH_ATTRIBUTES, 'path');
  const query = attributes(q < 0 ? '' : rest.slice(q + 1), '&', QUERY_ATTRIBUTES, 'query');
  if (query.has('pin-value')) {
    throw new SihlError(
      'USAGE',
      'PKCS#11 URI: pin-value is refused (a PIN in a URI leaks into history and logs); use pin-source=FILE or SIHL_PKCS11_PIN',
    );
  }
  const token = path.get('token');
  const object = path.get('object');
  if (!token || !object) {
    throw new SihlError('USAGE', 'PKCS#11 URI: name the key with both token=LABEL and object=LABEL');
  }
  const type = path.get('type');
  if (type !== undefined && type !== 'private') {
    throw new SihlError('USAGE', `PKCS#11 URI: type=${type} cannot sign; leave it out or use type=private`);
  }
  const modulePath = query.get('module-path');
  const pinSource = query.get('pin-source');
  return {
    token,
    object,
    ...(modulePath ? { modulePath } : {}),
    ...(pinSource ? { pinSource: pinSource.replace(/^file:(\/\/)?/, '') } : {}),
  };
}

/** The reference written back without secrets, for messages and the workspace's key reference files. */
export function formatPkcs11Reference(ref: Pkcs11Reference): string {
  const enc = (v: string) => encodeURIComponent(v);
  const query = [
    ...(ref.modulePath ? [`module-path=${enc(ref.modulePath)}`] : []),
    ...(ref.pinSource ? [`pin-source=${enc(ref.pinSource)}`] : []),
  ];
  return `pkcs11:token=${enc(ref.token)};object=${enc(ref.object)}${query.length ? `?${query.join('&')}` : ''}`;
}
