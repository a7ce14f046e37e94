import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { formatSize, formatTimeMs, parseNumber, parseSize, parseTime } from "../../src/config/units.ts";

describe("parseTime, millisecond flavour", () => {
  const good: Array<[string, number]> = [
    ["0", 0],
    ["90", 90000],
    ["1m30", 90000],
    ["1m30s", 90000],
    ["500ms", 500],
    ["1s500ms", 1500],
    ["1h 30m", 5400000],
    ["1h  30m 10s", 5410000],
    ["2w", 14 * 86400000],
    ["1d", 86400000],
    ["24h", 86400000],
    ["60s", 60000],
  ];
  for (const [text, ms] of good) {
    test(`"${text}" is ${ms} milliseconds`, () => assert.equal(parseTime(text, "ms"), ms));
  }
  const bad = ["", "1y", "1M", "s", "1x", "-1s", "1s1m", "1m1m", "1ms1s", " 1s", "1 s", "1.5s", "99999999999999999999"];
  for (const text of bad) {
    test(`"${text}" is refused`, () => assert.equal(parseTime(text, "ms"), null));
  }
});

describe("parseTime, second flavour", () => {
  const good: Array<[string, number]> = [
    ["300", 300],
    ["5m", 300],
    ["1y", 365 * 86400],
    ["1M", 30 * 86400],
    ["1y1M1w1d1h1m1s", 365 * 86400 + 30 * 86400 + 7 * 86400 + 86400 + 3600 + 60 + 1],
    ["30m 10", 1810],
  ];
  for (const [text, s] of good) {
    test(`"${text}" is ${s} seconds`, () => assert.equal(parseTime(text, "s"), s));
  }
  for (const text of ["500ms", "1s500ms", "", "1M1y", "1d1d", "abc"]) {
    test(`"${text}" is refused`, () => assert.equal(parseTime(text, "s"), null));
  }
});

describe("parseSize and parseNumber", () => {
  test("sizes accept k, K, m, M and bare bytes", () => {
    assert.equal(parseSize("0"), 0);
    assert.equal(parseSize("4096"), 4096);
    assert.equal(parseSize("16k"), 16384);
    assert.equal(parseSize("16K"), 16384);
    assert.equal(parseSize("2m"), 2097152);
    assert.equal(parseSize("2M"), 2097152);
  });
  test("sizes refuse g, fractions, signs and empty values", () => {
    for (const text of ["1g", "1.5k", "-1", "", "k", "1kb", " 1"]) assert.equal(parseSize(text), null, text);
  });
  test("numbers are decimal digits only", () => {
    assert.equal(parseNumber("10"), 10);
    assert.equal(parseNumber("007"), 7);
    for (const text of ["", "-1", "+1", "1e3", "1.0", "ten"]) assert.equal(parseNumber(text), null, text);
  });
  test("times and sizes are written back in nginx units", () => {
    assert.equal(formatTimeMs(90000), "1m30s");
    assert.equal(formatTimeMs(86400000), "1d");
    assert.equal(formatTimeMs(1500), "1s500ms");
    assert.equal(formatTimeMs(0), "0s");
    assert.equal(formatSize(16384), "16k");
    assert.equal(formatSize(1048576), "1m");
    assert.equal(formatSize(1000), "1000");
  });
});
