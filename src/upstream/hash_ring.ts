/**
 * A consistent hash ring (ketama-like): each backend owns 160 × weight points, so
 * adding or removing one moves only its share of keys, and every process given the
 * same backends builds the same ring: a fleet agrees without talking.
 */

const POINTS_PER_WEIGHT = 160;

/** FNV-1a over the string's char codes (logins are binary strings): 32 bits, stable everywhere. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i) & 0xff;
    h = Math.imul(h, 0x01000193);
  }
  // FNV's last step leaves the low bits poorly mixed; a murmur finaliser spreads them.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/**
 * @example new HashRing([{ id: "a:143", weight: 1 }, { id: "b:143", weight: 2 }]).order("alice") // ["b:143", "a:143"]
 */
export class HashRing {
  private readonly points: Array<{ at: number; id: string }> = [];
  private readonly size: number;

  constructor(members: ReadonlyArray<{ id: string; weight: number }>) {
    for (const m of members) {
      for (let i = 0; i < POINTS_PER_WEIGHT * m.weight; i++) this.points.push({ at: hash32(`${m.id}-${i}`), id: m.id });
    }
    this.points.sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));
    this.size = new Set(members.map((m) => m.id)).size;
  }

  /** Every member once, in the order the ring offers them to `key`: its first choice, then the next ones. */
  order(key: string): string[] {
    const out: string[] = [];
    if (this.points.length === 0) return out;
    const h = hash32(key);
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid]!.at < h) lo = mid + 1;
      else hi = mid;
    }
    const seen = new Set<string>();
    for (let i = 0; i < this.points.length && out.length < this.size; i++) {
      const { id } = this.points[(lo + i) % this.points.length]!;
      if (!seen.has(id)) {
        seen.add(id);
        out.push(id);
      }
    }
    return out;
  }
}
