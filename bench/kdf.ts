// `npm run bench:kdf`: what a key file's passphrase costs an attacker who copied the file. Each guess is
// one Argon2id derivation (crypto_pwhash) at the cost the file records; this times unlockSecret, which
// is exactly that derivation plus one XChaCha20-Poly1305 open, on one core, at the costs sihl writes:
// MODERATE for root and approver keys, INTERACTIVE for online, device and content keys.
import { availableParallelism, cpus } from 'node:os';
import {
  DEFAULT_KDF_COST,
  type KdfCost,
  lockSecret,
  SIGNING_KDF_COST,
  unlockSecret,
} from '../src/core/crypto/index.ts';

const AD = new TextEncoder().encode('bench');
const SECRET = new Uint8Array(32).fill(7);

async function guessesPerSecond(cost: KdfCost, seconds: number): Promise<{ perGuess: number; rate: number }> {
  const locked = await lockSecret(SECRET, 'the right passphrase', AD, cost);
  const start = performance.now();
  let guesses = 0;
  while (performance.now() - start < seconds * 1000 || guesses < 3) {
    await unlockSecret(locked, `guess ${guesses}`, AD).catch(() => undefined);
    guesses += 1;
  }
  const perGuess = (performance.now() - start) / 1000 / guesses;
  return { perGuess, rate: 1 / perGuess };
}

const rows: string[] = [];
for (const [name, cost, use] of [
  ['MODERATE', SIGNING_KDF_COST, 'root and approver keys'],
  ['INTERACTIVE', DEFAULT_KDF_COST, 'online (snapshot, timestamp), device and content keys'],
] as const) {
  const { perGuess, rate } = await guessesPerSecond(cost, 5);
  const mib = cost.memlimit / (1024 * 1024);
  rows.push(
    `| ${name} | ${cost.opslimit} passes, ${mib} MiB | ${use} | ${perGuess.toFixed(2)} s | ${rate.toFixed(1)} |`,
  );
}
console.log(
  `Argon2id per guess on one core of ${cpus()[0]?.model ?? 'this machine'} (${availableParallelism()} cores)\n`,
);
console.log('| cost | parameters | used for | time per guess | guesses/s per core |');
console.log('|---|---|---|---|---|');
for (const row of rows) console.log(row);
