/**
 * PROXY protocol in (from a balancer) and out (to backends), and set_real_ip_from
 * matching: pure functions, inputs split at every byte offset.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseProxyHeader, type ProxyHeaderResult, V2_SIGNATURE } from "../../src/server/proxy_protocol_in.ts";
import { crc32c, proxyHeaderV1, proxyHeaderV2 } from "../../src/wire/proxy_header.ts";
import { trustedPeers } from "../../src/server/realip.ts";
import { hasHostBits } from "../../src/config/values/cidr.ts";

/** Feed `bytes` growing one byte at a time, as a slow network would; every prefix but the last must ask for more. */
function parseGrowing(bytes: Buffer): ProxyHeaderResult {
  let result: ProxyHeaderResult = { type: "more" };
  for (let n = 1; n <= bytes.length; n++) {
    result = parseProxyHeader(bytes.subarray(0, n));
    if (result.type !== "more") {
      assert.equal(n, bytes.length, `decided early at byte ${n}: ${JSON.stringify(result)}`);
    }
  }
  return result;
}

function v2(command: number, family: number, body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = command;
  head[1] = family;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, body]);
}

describe("PROXY header from a balancer", () => {
  test("a v1 TCP4 line gives source and destination, split at every byte offset", () => {
    const line = Buffer.from("PROXY TCP4 203.0.113.9 192.0.2.10 51234 143\r\n");
    assert.deepEqual(parseGrowing(line), {
      type: "ok",
      consumed: line.length,
      version: 1,
      info: { addr: "203.0.113.9", port: 51234, serverAddr: "192.0.2.10", serverPort: 143 },
    });
  });

  test("only the header is consumed; the bytes behind it stay for TLS or the protocol", () => {
    const data = Buffer.from("PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n\x16\x03\x01", "latin1");
    const r = parseProxyHeader(data);
    assert.equal(r.type, "ok");
    assert.equal(r.type === "ok" && data.subarray(r.consumed).toString("latin1"), "\x16\x03\x01");
    assert.deepEqual(r.type === "ok" && r.info, { addr: "2001:db8::1", port: 1, serverAddr: "2001:db8::2", serverPort: 65535 });
  });

  test("PROXY UNKNOWN is accepted without addresses", () => {
    assert.deepEqual(parseGrowing(Buffer.from("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n")), {
      type: "ok",
      consumed: 35,
      version: 1,
    });
    assert.deepEqual(parseProxyHeader(Buffer.from("PROXY UNKNOWN\r\n")), { type: "ok", consumed: 15, version: 1 });
  });

  test("malformed v1 lines are broken and quoted for the log", () => {
    const cases = [
      "GET / HTTP/1.0\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
      "PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n",
      "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
      "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
      "a1 LOGIN john secret\r\n",
      // An IPv6 zone ID is no address a client can have (nginx refuses it too).
      "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
      "PROXY TCP6 ::1 fe80::1%25eth0 1 2\r\n",
    ];
    for (const text of cases) {
      assert.deepEqual(parseProxyHeader(Buffer.from(text)), { type: "broken", data: text }, text);
    }
  });

  test("a v1 line with no end within 107 bytes is broken", () => {
    const r = parseProxyHeader(Buffer.from(`PROXY TCP4 ${"1".repeat(200)}`));
    assert.equal(r.type, "broken");
    assert.equal(r.type === "broken" && r.data.length, 107);
  });

  test("a v2 PROXY header over IPv4 with TLVs gives the addresses and skips the TLVs, at every split", () => {
    const body = Buffer.concat([
      Buffer.from([203, 0, 113, 9, 192, 0, 2, 10]),
      Buffer.from([0xc8, 0x22, 0x00, 0x8f]), // 51234, 143
      Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]), // NOOP TLV
    ]);
    const header = v2(0x21, 0x11, body);
    assert.deepEqual(parseGrowing(header), {
      type: "ok",
      consumed: header.length,
      version: 2,
      info: { addr: "203.0.113.9", port: 51234, serverAddr: "192.0.2.10", serverPort: 143 },
    });
  });

  test("a v2 header over IPv6 gives canonical IPv6 text", () => {
    const src = Buffer.from("20010db8000000000000000000000001", "hex");
    const dst = Buffer.from("00000000000000000000ffffc000020a", "hex");
    const header = v2(0x21, 0x21, Buffer.concat([src, dst, Buffer.from([0, 1, 0, 2])]));
    const r = parseGrowing(header);
    assert.deepEqual(r.type === "ok" && r.info, { addr: "2001:db8::1", port: 1, serverAddr: "::ffff:192.0.2.10", serverPort: 2 });
  });

  test("v2 LOCAL and non-TCP families are accepted without addresses", () => {
    assert.deepEqual(parseProxyHeader(v2(0x20, 0x00, Buffer.alloc(0))), { type: "ok", consumed: 16, version: 2 });
    const unix = v2(0x21, 0x31, Buffer.alloc(216));
    assert.deepEqual(parseProxyHeader(unix), { type: "ok", consumed: 232, version: 2 });
  });

  test("v2 with a bad version, a bad command, a short address block or over 4 KiB is broken", () => {
    for (const header of [v2(0x11, 0x11, Buffer.alloc(12)), v2(0x22, 0x11, Buffer.alloc(12)), v2(0x21, 0x11, Buffer.alloc(11)), v2(0x21, 0x11, Buffer.alloc(4081))]) {
      assert.equal(parseProxyHeader(header).type, "broken");
    }
    assert.equal(parseProxyHeader(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x00])).type, "broken");
  });
});

describe("PROXY header towards backends", () => {
  test("v1 names the client and the local address", () => {
    assert.equal(
      proxyHeaderV1({ clientAddr: "203.0.113.9", clientPort: 51234, localAddr: "::ffff:192.0.2.10", localPort: 143 }),
      "PROXY TCP4 203.0.113.9 192.0.2.10 51234 143\r\n",
    );
  });

  test("CRC32C of the standard check string is e3069283", () => {
    assert.equal(crc32c(Buffer.from("123456789")).toString(16), "e3069283");
  });

  test("v2 over IPv4 is the exact binary header with a CRC32C TLV our own parser reads back", () => {
    const text = proxyHeaderV2({ clientAddr: "203.0.113.9", clientPort: 51234, localAddr: "192.0.2.10", localPort: 143 });
    const bytes = Buffer.from(text, "latin1");
    assert.equal(
      bytes.subarray(0, 31).toString("hex"),
      "0d0a0d0a000d0a515549540a" + "21" + "11" + "0013" + "cb007109" + "c000020a" + "c822" + "008f" + "030004",
    );
    const zeroed = Buffer.from(bytes);
    zeroed.writeUInt32BE(0, zeroed.length - 4);
    assert.equal(bytes.readUInt32BE(bytes.length - 4), crc32c(zeroed));
    assert.deepEqual(parseProxyHeader(bytes), {
      type: "ok",
      consumed: bytes.length,
      version: 2,
      info: { addr: "203.0.113.9", port: 51234, serverAddr: "192.0.2.10", serverPort: 143 },
    });
  });

  test("v2 writes a mixed IPv4/IPv6 pair as IPv6 and a unix client as LOCAL", () => {
    const mixed = Buffer.from(proxyHeaderV2({ clientAddr: "2001:db8::1", clientPort: 1, localAddr: "192.0.2.10", localPort: 2 }), "latin1");
    const r = parseProxyHeader(mixed);
    assert.deepEqual(r.type === "ok" && r.info, { addr: "2001:db8::1", port: 1, serverAddr: "::ffff:192.0.2.10", serverPort: 2 });
    const local = Buffer.from(proxyHeaderV2({ clientAddr: "unix:", localAddr: undefined }), "latin1");
    assert.equal(local.subarray(12).toString("hex"), "20000007030004" + local.subarray(-4).toString("hex"));
  });

  test("v2 for a TLS client carries AUTHORITY, ALPN and the SSL TLV with version and cipher", () => {
    const text = proxyHeaderV2(
      { clientAddr: "203.0.113.9", clientPort: 1, localAddr: "192.0.2.10", localPort: 993 },
      { version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384", serverName: "mail.example.com", alpn: "imap" },
    );
    const tlvs = Buffer.from(text, "latin1").subarray(28);
    const seen: Array<[number, string]> = [];
    for (let i = 0; i < tlvs.length;) {
      const len = tlvs.readUInt16BE(i + 1);
      seen.push([tlvs[i]!, tlvs.subarray(i + 3, i + 3 + len).toString("latin1")]);
      i += 3 + len;
    }
    assert.deepEqual(seen.map(([t]) => t), [0x02, 0x01, 0x20, 0x03]);
    assert.equal(seen[0]![1], "mail.example.com");
    assert.equal(seen[1]![1], "imap");
    assert.equal(seen[2]![1], "\x01\x00\x00\x00\x01" + "\x21\x00\x07TLSv1.3" + "\x23\x00\x16TLS_AES_256_GCM_SHA384");
  });
});

describe("set_real_ip_from", () => {
  test("addresses, CIDRs, IPv4-mapped peers and unix: are matched; others are not", async () => {
    const t = await trustedPeers(["192.0.2.1", "10.0.0.0/8", "2001:db8::/32", "unix:"]);
    assert.equal(t.trusts("192.0.2.1"), true);
    assert.equal(t.trusts("192.0.2.2"), false);
    assert.equal(t.trusts("10.200.3.4"), true);
    assert.equal(t.trusts("::ffff:10.1.1.1"), true);
    assert.equal(t.trusts("11.0.0.1"), false);
    assert.equal(t.trusts("2001:db8:ffff::5"), true);
    assert.equal(t.trusts("2001:db9::5"), false);
    assert.equal(t.trusts("unix:"), true);
    assert.equal((await trustedPeers(["127.0.0.1"])).trusts("unix:"), false);
  });

  test("a host name trusts each of its addresses", async () => {
    const t = await trustedPeers(["localhost"]);
    assert.equal(t.trusts("127.0.0.1"), true);
  });

  test("an unresolvable name is refused with nginx's message", async () => {
    await assert.rejects(trustedPeers(["no-such-host.invalid"]), { message: 'host not found in set_real_ip_from "no-such-host.invalid"' });
  });

  test("host bits beyond the prefix are noticed", () => {
    assert.equal(hasHostBits("10.0.0.1/8"), true);
    assert.equal(hasHostBits("10.0.0.0/8"), false);
    assert.equal(hasHostBits("2001:db8::1/64"), true);
  });
});
