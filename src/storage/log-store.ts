// The log store port: where devices' signed status reports end up. Adapters: node:sqlite (the embedded
// default, next to the registry) and Azure Table Storage. An entry keeps the device's signed report bytes
// as they arrived; whoever reads entries verifies them again against the registry, because a store (or an
// emulator that does not enforce a SAS's partition range) may hold entries a device never wrote.

export interface LogEntry {
  /** The partition: the device id (hex SHA-256 of its Ed25519 public key) the entry was filed under. */
  readonly deviceId: string;
  /** When the store accepted the entry (not a claim of the device). */
  readonly received: Date;
  /** The signed report, exactly as the device sent it (src/core/format/report.ts). */
  readonly report: Uint8Array;
}

export interface LogQuery {
  readonly deviceId?: string;
  /** Entries received at or after this instant. */
  readonly since?: Date;
  /** Entries received before this instant. */
  readonly until?: Date;
  /** At most this many, oldest first. */
  readonly limit?: number;
}

export interface LogStore {
  /** Adds entries to one device's partition; all or nothing. */
  append(deviceId: string, entries: readonly { received: Date; report: Uint8Array }[]): Promise<void>;
  /** Entries oldest first (by received time, then by arrival order). */
  query(query?: LogQuery): AsyncIterable<LogEntry>;
  close(): Promise<void>;
}
