// Number handling and the cgroup v1 -> v2 value conversions (runc 1.1's formulas).
import { TsrunError } from '../errors.js';
import type { Int } from './types.js';

/** A spec integer as a bigint (undefined/null stay undefined). Non-integers are rejected. */
export function big(v: Int | null | undefined, what: string): bigint | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'bigint') return v;
  if (typeof v !== 'number' || !Number.isFinite(v) || !Number.isInteger(v)) {
    throw TsrunError.invalid(`invalid value for ${what}: ${String(v)} (expected an integer)`);
  }
  return BigInt(v);
}

/** runc's numToStr for v2 files: 0 -> "" (unset), -1 -> "max", else the number. */
export function numToStr(v: bigint): string {
  if (v === 0n) return '';
  if (v === -1n) return 'max';
  return v.toString();
}

/** cpu.shares (v1, 2..262144) -> cpu.weight (v2, 1..10000): 1 + ((shares - 2) * 9999) / 262142, 0 stays 0. */
export function convertCpuSharesToWeight(shares: bigint): bigint {
  if (shares === 0n) return 0n;
  return 1n + ((shares - 2n) * 9999n) / 262142n;
}

/** blkio.weight (10..1000) -> io.weight (1..10000): 1 + (weight - 10) * 9999 / 990, 0 stays 0. */
export function convertBlkioWeightToIoWeight(weight: bigint): bigint {
  if (weight === 0n) return 0n;
  return 1n + ((weight - 10n) * 9999n) / 990n;
}

/**
 * OCI memory.swap is memory+swap (the v1 memsw limit); v2's memory.swap.max is swap alone.
 * Returns the memory.swap.max value as runc computes it (-1 = max, 0 = unset).
 */
export function convertMemorySwapToV2(swap: bigint, memory: bigint): bigint {
  // "memory unlimited, swap unset" means both unlimited (v1 compatibility).
  if (memory === -1n && swap === 0n) return -1n;
  if (swap === -1n || swap === 0n) return swap;
  if (memory === 0n || memory === -1n) throw TsrunError.invalid('unable to set swap limit without memory limit');
  if (memory < 0n) throw TsrunError.invalid(`invalid memory value: ${memory}`);
  if (swap < memory) throw TsrunError.invalid('memory+swap limit should be >= memory limit');
  return swap - memory;
}
