/**
 * nginx value units: times, sizes and plain numbers (directives.md §2).
 * Every parser returns `null` for a value nginx would refuse; callers word the error.
 */

/** Largest value we accept; keeps arithmetic exact in a JS number. */
const MAX = Number.MAX_SAFE_INTEGER;

/**
 * The two time flavours of nginx:
 * - `"ms"`: millisecond-resolution directives (`timeout`, `proxy_timeout`, ...). Units
 *   `w d h m s ms`; `y` and `M` are refused. The result is in **milliseconds**.
 * - `"s"`: second-resolution directives (`ssl_session_timeout`, resolver `valid=`,
 *   `so_keepalive=` parts). Units `y M w d h m s`; `ms` is refused. The result is in
 *   **seconds**.
 */
type TimeFlavour = "ms" | "s";

/** Parse progress; a unit may only follow a larger one. */
const Step = { Start: 0, Year: 1, Month: 2, Week: 3, Day: 4, Hour: 5, Min: 6, Sec: 7, Msec: 8 } as const;

const SECONDS: Record<string, [number, number]> = {
  y: [Step.Year, 365 * 86400],
  M: [Step.Month, 30 * 86400],
  w: [Step.Week, 7 * 86400],
  d: [Step.Day, 86400],
  h: [Step.Hour, 3600],
  m: [Step.Min, 60],
  s: [Step.Sec, 1],
};

/**
 * Parses an nginx time: `<digits><unit>` groups, units strictly decreasing and each at most
 * once, optional spaces after a unit, a trailing bare number counts as seconds.
 *
 * @example parseTime("1m30s", "ms") === 90000; parseTime("1m30", "s") === 90;
 *          parseTime("1y", "ms") === null; parseTime("500ms", "s") === null
 */
export function parseTime(text: string, flavour: TimeFlavour): number | null {
  const isSec = flavour === "s";
  // nginx starts millisecond parses at "month level", which refuses y and M.
  let step: number = isSec ? Step.Start : Step.Month;
  let value = 0;
  let total = 0;
  let sawDigit = false;

  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch >= "0" && ch <= "9") {
      value = value * 10 + (ch.charCodeAt(0) - 48);
      if (value > MAX) return null;
      sawDigit = true;
      continue;
    }
    let scale: number;
    if (ch === "m" && text[i + 1] === "s") {
      if (isSec || step >= Step.Msec) return null;
      step = Step.Msec;
      scale = 1;
      i++;
    } else {
      const unit = SECONDS[ch];
      if (unit === undefined) return null;
      const [unitStep, seconds] = unit;
      if (unitStep === Step.Year ? step > Step.Start : step >= unitStep) return null;
      step = unitStep;
      scale = isSec ? seconds : seconds * 1000;
    }
    if (value > MAX / scale) return null;
    total += value * scale;
    if (total > MAX) return null;
    value = 0;
    while (text[i + 1] === " ") i++;
  }

  if (!sawDigit) return null;
  const rest = isSec ? value : value * 1000;
  if (rest > MAX || total + rest > MAX) return null;
  return total + rest;
}

/**
 * Parses an nginx size: digits with an optional `k`/`K` (×1024) or `m`/`M` (×1048576).
 * @example parseSize("16k") === 16384; parseSize("1g") === null
 */
export function parseSize(text: string): number | null {
  let digits = text;
  let scale = 1;
  const unit = text[text.length - 1];
  if (unit === "k" || unit === "K") scale = 1024;
  else if (unit === "m" || unit === "M") scale = 1024 * 1024;
  if (scale !== 1) digits = text.slice(0, -1);
  const n = parseNumber(digits);
  if (n === null || n > MAX / scale) return null;
  return n * scale;
}

/** Parses decimal digits only (no sign, no spaces). @example parseNumber("10") === 10 */
export function parseNumber(text: string): number | null {
  if (!/^[0-9]+$/.test(text)) return null;
  const n = Number(text);
  return n > MAX ? null : n;
}

const TIME_UNITS_MS: Array<[string, number]> = [
  ["d", 86400000], ["h", 3600000], ["m", 60000], ["s", 1000], ["ms", 1],
];

/** Writes milliseconds back as an nginx time (`90000` → `"1m30s"`, `0` → `"0s"`). */
export function formatTimeMs(ms: number): string {
  if (ms === 0) return "0s";
  let out = "";
  let rest = ms;
  for (const [unit, size] of TIME_UNITS_MS) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}

/** Writes seconds back as an nginx time (`300` → `"5m"`). */
export function formatTimeSec(seconds: number): string {
  if (seconds === 0) return "0s";
  return formatTimeMs(seconds * 1000);
}

/** Writes bytes back as an nginx size (`16384` → `"16k"`, `1000` → `"1000"`). */
export function formatSize(bytes: number): string {
  if (bytes !== 0 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)}m`;
  if (bytes !== 0 && bytes % 1024 === 0) return `${bytes / 1024}k`;
  return String(bytes);
}
