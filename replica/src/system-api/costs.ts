// Fixed instruction overhead of each System API call, plus one instruction per byte copied.
// Values follow the replica's `system_api_complexity::overhead` table; anything unlisted is 500.

const OVERHEAD: Readonly<Record<string, number>> = {
  call_new: 1_500,
  call_perform: 5_000,
  debug_print: 100,
  is_controller: 1_000,
  performance_counter: 200,
  stable_read: 20,
  stable_size: 20,
  stable_write: 20,
  stable64_read: 20,
  stable64_size: 20,
  stable64_write: 20,
};
const DEFAULT_OVERHEAD = 500;

export function costOf(name: string, bytes: number): bigint {
  return BigInt((OVERHEAD[name] ?? DEFAULT_OVERHEAD) + bytes);
}
