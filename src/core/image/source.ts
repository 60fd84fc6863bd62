// Where image bytes come from: a file, a buffer, or (on a device) a flash slot. Random access, so the
// verifier can read the small parts first and stream the payload twice without holding it.
import { SihlError } from '../errors.ts';

export interface ByteSource {
  readonly size: number;
  /** Reads exactly `length` bytes; into `buffer` (from its start) when given, so loops can reuse one. */
  read(offset: number, length: number, buffer?: Uint8Array): Promise<Uint8Array>;
}

export function bufferSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read: async (offset, length) => {
      if (offset + length > bytes.length)
        throw new SihlError('IMAGE_TRUNCATED', 'read past the end of the image');
      return bytes.subarray(offset, offset + length);
    },
  };
}
