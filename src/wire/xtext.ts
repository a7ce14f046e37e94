/**
 * xtext (RFC 3461 §4) as nginx applies it to XCLIENT `LOGIN=` (since 1.29.2):
 * bytes below `!`, `+`, `=` and bytes from 0x7F up become `+` and two
 * uppercase hex digits.
 * @example xtext("john doe+x=y") // "john+20doe+2Bx+3Dy"
 */
export function xtext(binary: string): string {
  let out = "";
  for (let i = 0; i < binary.length; i++) {
    const code = binary.charCodeAt(i) & 0xff;
    if (code < 0x21 || code >= 0x7f || code === 0x2b || code === 0x3d) {
      out += "+" + code.toString(16).toUpperCase().padStart(2, "0");
    } else {
      out += binary[i];
    }
  }
  return out;
}
