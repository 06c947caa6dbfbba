/**
 * The pre-queue lottery's draw: tickets numbered 1 to `entrants` (handed out before the sale
 * started) are admitted in the order of SHA-256(seed || number as 8 bytes big-endian), smallest
 * first. Anyone given the revealed seed (QueueService.GetDraw) can recompute it, and check it
 * against the hash published before the start.
 */
import { createHash } from 'node:crypto';

/** SHA-256 of the seed's bytes, hex: the commitment published before the start. */
export function seedCommitment(seedHex: string): string {
  return createHash('sha256').update(Buffer.from(seedHex, 'hex')).digest('hex');
}

/** The draw's key of one number. */
function drawKey(seed: Buffer, number: number): Buffer {
  const n = Buffer.alloc(8);
  n.writeBigUInt64BE(BigInt(number));
  return createHash('sha256').update(seed).update(n).digest();
}

/**
 * Each number's rank in the draw: element `n` holds the position (1-based) of ticket number `n`
 * (element 0 is unused). Costs one hash per entrant and a sort: once per sale and gate.
 */
export function drawRanks(seedHex: string, entrants: number): Uint32Array {
  const seed = Buffer.from(seedHex, 'hex');
  const keyed = Array.from({ length: entrants }, (_, i) => ({
    number: i + 1,
    key: drawKey(seed, i + 1),
  }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key) || a.number - b.number);
  const ranks = new Uint32Array(entrants + 1);
  keyed.forEach(({ number }, i) => {
    ranks[number] = i + 1;
  });
  return ranks;
}
