// --shard k/n: which tables this process handles. The hash is FNV-1a (32 bits) of the UTF-8
// bytes of the quoted name `"schema"."table"`, modulo n: it depends on nothing but the table's
// own name, so every table belongs to exactly one shard whatever other tables exist, and anyone
// can reproduce it (docs/tenants.md shows it in a few lines of Python).

export interface Shard {
  index: number;
  count: number;
}

export const MAX_SHARDS = 1024;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, FNV_PRIME) >>> 0;
  }
  return hash >>> 0;
}

/** The shard (0 … count-1) of a table, given its quoted "schema"."table" name. */
export function shardOf(quotedName: string, count: number): number {
  return fnv1a32(quotedName) % count;
}
