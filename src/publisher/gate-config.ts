// What sihl.json tells the policy gate beyond keys and places: the device models it knows (their
// executable slot size, for fits-slot) and the vendor's own checks (commands run on the firmware).
// docs/WORKSPACE.md §Gate settings describes both.

/** A device model's flash, as the gate needs it, and the codec its bootloader decodes. */
export interface ModelConfig {
  /** Bytes of the executable slot: the largest firmware a device of this model can run. */
  readonly slotSize: number;
  /**
   * `lzma2` for a microcontroller target whose bootloader is the C one (docs/BOOTLOADER-C.md): its
   * images are packed with LZMA2 and the ARM-Thumb branch filter by default; `brotli` (the default).
   */
  readonly codec?: 'brotli' | 'lzma2';
}

/** What packing defaults to for `model` (an explicit --compression or --filter overrides it). */
export function codecFor(model: ModelConfig | undefined): { compression?: 'lzma2'; filter?: 'thumb' } {
  return model?.codec === 'lzma2' ? { compression: 'lzma2', filter: 'thumb' } : {};
}

/** A command of the vendor's run by the gate (the `vendor-checks` rule). */
export interface VendorCheckConfig {
  /** Names the check and its output file, `checks/NAME.log` in the release folder. */
  readonly name: string;
  /** Program and arguments, run without a shell from the workspace folder. */
  readonly command: readonly string[];
  /** Seconds before the check and every process it started are killed (default 120). */
  readonly timeoutSeconds?: number;
}

export const CHECK_TIMEOUT_DEFAULT_S = 120;
/** A day: a longer check is a mistake, not a scan. */
export const CHECK_TIMEOUT_MAX_S = 86_400;
/** Executable slots are addressed with 32-bit sizes on devices (docs/BOOT.md §Layout). */
export const SLOT_SIZE_MAX = 0xffffffff;
export const CHECKS_MAX = 32;

const MODEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const CHECK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Adds every problem with `models` and `checks` of a configuration to `problems`. */
export function checkGateConfig(
  c: { readonly models?: unknown; readonly checks?: unknown },
  problems: string[],
): void {
  if (c.models !== undefined) checkModels(c.models, problems);
  if (c.checks !== undefined) checkChecks(c.checks, problems);
}

function checkModels(models: unknown, problems: string[]): void {
  if (typeof models !== 'object' || models === null || Array.isArray(models)) {
    problems.push('"models" must be an object: { "MODEL": { "slotSize": BYTES, "codec": "lzma2" } }');
    return;
  }
  for (const [model, value] of Object.entries(models)) {
    if (!MODEL.test(model)) problems.push(`models: bad model name ${JSON.stringify(model)}`);
    const slot = (value as Partial<ModelConfig> | null)?.slotSize;
    if (!Number.isInteger(slot) || (slot as number) < 1 || (slot as number) > SLOT_SIZE_MAX) {
      problems.push(`models.${model}.slotSize must be a whole number of bytes from 1 to ${SLOT_SIZE_MAX}`);
    }
    const codec = (value as Partial<ModelConfig> | null)?.codec;
    if (codec !== undefined && codec !== 'brotli' && codec !== 'lzma2')
      problems.push(`models.${model}.codec must be "brotli" or "lzma2" (a microcontroller target)`);
  }
}

function checkChecks(checks: unknown, problems: string[]): void {
  if (!Array.isArray(checks) || checks.length > CHECKS_MAX) {
    problems.push(`"checks" must be a list of at most ${CHECKS_MAX} { "name", "command": [...] }`);
    return;
  }
  const seen = new Set<string>();
  for (const [i, check] of checks.entries()) {
    const c = (check ?? {}) as Partial<VendorCheckConfig>;
    const at = `checks[${i}]`;
    if (typeof c.name !== 'string' || !CHECK_NAME.test(c.name)) {
      problems.push(`${at}.name must be 1 to 64 of A-Z a-z 0-9 . _ - (it names checks/NAME.log)`);
    } else if (seen.has(c.name)) {
      problems.push(`${at}: the name "${c.name}" is used twice`);
    } else {
      seen.add(c.name);
    }
    if (
      !Array.isArray(c.command) ||
      c.command.length === 0 ||
      c.command.some((part) => typeof part !== 'string' || part === '' || part.includes('\0'))
    ) {
      problems.push(
        `${at}.command must be a list of program and arguments, such as ["./scan.sh", "--strict"]`,
      );
    }
    const timeout = c.timeoutSeconds;
    if (
      timeout !== undefined &&
      (typeof timeout !== 'number' || !(timeout > 0) || timeout > CHECK_TIMEOUT_MAX_S)
    ) {
      problems.push(
        `${at}.timeoutSeconds must be a number of seconds above 0, at most ${CHECK_TIMEOUT_MAX_S}`,
      );
    }
  }
}
