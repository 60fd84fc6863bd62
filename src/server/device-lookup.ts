// The server's port to the registry: it only needs to find a device by id, to check a report's
// signature against the registered key and refuse revoked devices (docs/SERVER.md §Reports).

export interface RegisteredDevice {
  /** Hex SHA-256 of the device's Ed25519 public key. */
  readonly id: string;
  /** The registered Ed25519 public key its reports must verify under. */
  readonly sign: Uint8Array;
  /** The model it is registered as: its reports must name it, and only its targets. */
  readonly model: string;
  /** When it was revoked (epoch ms), or null. */
  readonly revokedAt: number | null;
}

export interface DeviceLookup {
  get(id: string): RegisteredDevice | undefined;
}
