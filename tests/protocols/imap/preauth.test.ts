import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ImapPreauth } from "../../../src/protocols/imap/preauth.ts";
import { client, feedChunks, imapMachine, imapOptions, render } from "../../support/imap_machine.ts";

const BAD = (tag: string) => `${tag} BAD invalid command\r\n`;
const DEFAULT_CAPS = "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN\r\n";

describe("IMAP greeting and protocol lines", () => {
  test("the greeting is the fixed line * OK IMAP4 ready", () => {
    assert.equal(render(imapMachine().greeting()), "* OK IMAP4 ready\r\n");
  });

  test("the session lines are the nginx IMAP texts", () => {
    const m = imapMachine();
    assert.equal(m.protocol, "imap");
    assert.deepEqual(m.lines, {
      internalError: "* BAD internal server error\r\n",
      certError: "* BYE SSL certificate error\r\n",
      certRequired: "* BYE No required SSL certificate\r\n",
      shutdown: "* BYE Server shutting down\r\n",
      tooManyConnections: "* BYE Too many connections\r\n",
      tooManyFailures: { text: "[UNAVAILABLE] Too many login failures, try again later" },
    });
  });
});

describe("IMAP commands before authentication (§3.3)", () => {
  test("CAPABILITY lists the capabilities then completes", () => {
    assert.equal(client("a1 CAPABILITY\r\n"), DEFAULT_CAPS + "a1 OK completed\r\n");
  });

  test("CAPABILITY ignores its arguments and the command word is case-insensitive", () => {
    assert.equal(client("a1 capability foo {3+}\r\nbar\r\n"), DEFAULT_CAPS + "a1 OK completed\r\n");
  });

  test("NOOP completes", () => {
    assert.equal(client("a1 NOOP\r\n"), "a1 OK completed\r\n");
  });

  test("LOGOUT says BYE, completes, closes and ignores what follows", () => {
    assert.equal(client("a1 LOGOUT\r\na2 NOOP\r\n"), "* BYE\r\na1 OK completed\r\n[close quit]");
  });

  test("LOGIN with two atoms asks the auth service with method plain and the tag", () => {
    assert.equal(client("a2 LOGIN john secret\r\n"), '[auth plain user="john" pass="secret" tag="a2 "]');
  });

  test("LOGIN with one argument is refused without counting an error", () => {
    assert.equal(client("a2 LOGIN onlyone\r\na3 NOOP\r\n", { max_errors: 1 }), BAD("a2") + "a3 OK completed\r\n");
  });

  test("LOGIN with three arguments is refused without counting an error", () => {
    assert.equal(client("a2 LOGIN a b c\r\na3 NOOP\r\n", { max_errors: 1 }), BAD("a2") + "a3 OK completed\r\n");
  });

  test("LOGIN with an empty user name is refused", () => {
    assert.equal(client('a2 LOGIN "" secret\r\n'), BAD("a2"));
  });

  test("LOGIN with an empty password is accepted", () => {
    assert.equal(client('a2 LOGIN john ""\r\n'), '[auth plain user="john" pass="" tag="a2 "]');
  });

  test("AUTHENTICATE without a mechanism is refused", () => {
    assert.equal(client("a1 AUTHENTICATE\r\n"), BAD("a1"));
  });

  test("AUTHENTICATE with an unknown mechanism is refused without counting an error", () => {
    assert.equal(client("a1 AUTHENTICATE DIGEST-MD5\r\na2 NOOP\r\n", { max_errors: 1 }), BAD("a1") + "a2 OK completed\r\n");
  });

  test("XOAUTH2 is advertised when listed and refused when not; a malformed payload is BAD", () => {
    assert.equal(
      client("a1 CAPABILITY\r\na2 AUTHENTICATE XOAUTH2 dG9rZW4=\r\na3 AUTHENTICATE OAUTHBEARER\r\n", {
        imap_auth: ["plain", "xoauth2"],
      }),
      "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN AUTH=XOAUTH2\r\na1 OK completed\r\n" + BAD("a2") + BAD("a3"),
    );
  });
});

describe("IMAP AUTHENTICATE (§2, §3.3)", () => {
  test("PLAIN without initial response sends an empty untagged continuation", () => {
    assert.equal(
      client("a1 AUTHENTICATE PLAIN\r\nAGpvaG4Ac2VjcmV0\r\n"),
      '+ \r\n[auth plain user="john" pass="secret" tag="a1 "]',
    );
  });

  test("PLAIN with an initial response authenticates at once", () => {
    assert.equal(client("a1 authenticate plain AGpvaG4Ac2VjcmV0\r\n"), '[auth plain user="john" pass="secret" tag="a1 "]');
  });

  test("PLAIN with two extra arguments is refused", () => {
    assert.equal(client("a1 AUTHENTICATE PLAIN AGpvaG4Ac2VjcmV0 x\r\n"), BAD("a1"));
  });

  test("LOGIN without initial response prompts for user name then password", () => {
    assert.equal(
      client("a1 AUTHENTICATE LOGIN\r\nam9obg==\r\nc2VjcmV0\r\n"),
      '+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n[auth plain user="john" pass="secret" tag="a1 "]',
    );
  });

  test("LOGIN with an initial response goes straight to the password prompt (§3.5)", () => {
    assert.equal(
      client("a1 AUTHENTICATE LOGIN am9obg==\r\nc2VjcmV0\r\n"),
      '+ UGFzc3dvcmQ6\r\n[auth plain user="john" pass="secret" tag="a1 "]',
    );
  });

  test("LOGIN with two extra arguments is refused", () => {
    assert.equal(client("a1 AUTHENTICATE LOGIN am9obg== c2VjcmV0\r\n"), BAD("a1"));
  });

  test("a bad user name in AUTHENTICATE LOGIN gets a tagged BAD (deliberate fix of nginx's untagged reply)", () => {
    assert.equal(client("a1 AUTHENTICATE LOGIN\r\n!!!!\r\na2 NOOP\r\n"), "+ VXNlcm5hbWU6\r\n" + BAD("a1") + "a2 OK completed\r\n");
  });

  test("a bad password in AUTHENTICATE LOGIN gets a tagged BAD", () => {
    assert.equal(client("a1 AUTHENTICATE LOGIN am9obg==\r\nc2V*\r\n"), "+ UGFzc3dvcmQ6\r\n" + BAD("a1"));
  });

  test("CRAM-MD5 is refused unless imap_auth lists it", () => {
    assert.equal(client("a2 AUTHENTICATE CRAM-MD5\r\n"), BAD("a2"));
  });

  test("CRAM-MD5 challenges with the base64 salt and passes user, digest and salt on (§3.5)", () => {
    assert.equal(
      client("a2 AUTHENTICATE CRAM-MD5\r\nam9obiA3MmUzMGMzOTQ2ODAxNGI0ZDg5M2UzNjMzMTNkZjQ1Yg==\r\n", {
        imap_auth: ["plain", "cram-md5"],
      }),
      "+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+\r\n" +
        '[auth cram-md5 user="john" pass="72e30c39468014b4d893e363313df45b" salt=<1896.697170952@postoffice.example.net> tag="a2 "]',
    );
  });

  test("CRAM-MD5 with an initial response is refused", () => {
    assert.equal(client("a2 AUTHENTICATE CRAM-MD5 abcd\r\n", { imap_auth: ["cram-md5"] }), BAD("a2"));
  });

  test("CRAM-MD5 with a digest that is not 32 characters is refused", () => {
    // base64("john 1234")
    assert.equal(
      client("a2 AUTHENTICATE CRAM-MD5\r\nam9obiAxMjM0\r\n", { imap_auth: ["cram-md5"] }),
      "+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+\r\n" + BAD("a2"),
    );
  });

  test("one salt per session: made at the first CRAM-MD5 from server_name and reused", () => {
    const made: string[] = [];
    const m = new ImapPreauth(imapOptions({ imap_auth: ["cram-md5"], server_name: "mx.test" }), (name) => {
      made.push(name);
      return `<${made.length}.1700000000@${name}>`;
    });
    assert.deepEqual(made, []);
    const first = render(m.feed("a1 AUTHENTICATE CRAM-MD5\r\n*\r\na2 AUTHENTICATE CRAM-MD5\r\n"));
    const challenge = "+ " + Buffer.from("<1.1700000000@mx.test>").toString("base64") + "\r\n";
    assert.equal(first, challenge + BAD("a1") + challenge);
    assert.deepEqual(made, ["mx.test"]);
  });

  test("the salt factory defaults to the <random.time@server_name> format", () => {
    const m = new ImapPreauth(imapOptions({ imap_auth: ["cram-md5"], server_name: "mx.test" }));
    const [action] = m.feed("a1 AUTHENTICATE CRAM-MD5\r\n");
    assert.equal(action.type, "send");
    const b64 = (action as { data: string }).data.slice(2, -2);
    assert.match(Buffer.from(b64, "base64").toString("latin1"), /^<\d+\.\d+@mx\.test>$/);
  });

  test("EXTERNAL is refused unless imap_auth lists it", () => {
    assert.equal(client("a1 AUTHENTICATE EXTERNAL\r\n"), BAD("a1"));
  });

  test("EXTERNAL without initial response prompts Username: and accepts an empty identity", () => {
    assert.equal(
      client("a1 AUTHENTICATE EXTERNAL\r\n\r\n", { imap_auth: ["external"] }),
      '+ VXNlcm5hbWU6\r\n[auth external user="" pass="" tag="a1 "]',
    );
  });

  test("EXTERNAL with an initial response authenticates at once", () => {
    assert.equal(
      client("a1 AUTHENTICATE EXTERNAL am9obg==\r\n", { imap_auth: ["external"] }),
      '[auth external user="john" pass="" tag="a1 "]',
    );
  });

  test("bad base64 in a continuation is refused with the AUTHENTICATE tag and not counted", () => {
    assert.equal(
      client("a1 AUTHENTICATE PLAIN\r\nAGpv!\r\na2 NOOP\r\n", { max_errors: 1 }),
      "+ \r\n" + BAD("a1") + "a2 OK completed\r\n",
    );
  });

  test("the cancel token * is answered like bad base64", () => {
    assert.equal(client("a1 AUTHENTICATE PLAIN\r\n*\r\n"), "+ \r\n" + BAD("a1"));
  });

  test("a PLAIN payload without its second NUL is refused", () => {
    // base64("\0john")
    assert.equal(client("a1 AUTHENTICATE PLAIN AGpvaG4=\r\n"), BAD("a1"));
  });

  test("only the first space-separated token of a continuation line is used", () => {
    assert.equal(
      client("a1 AUTHENTICATE PLAIN\r\nAGpvaG4Ac2VjcmV0 trailing words\r\n"),
      '+ \r\n[auth plain user="john" pass="secret" tag="a1 "]',
    );
  });

  test("a bare CR in a continuation line is a syntax error answered with the AUTHENTICATE tag", () => {
    assert.equal(
      client("a1 AUTHENTICATE PLAIN\r\nAGpv\rx\r\n", { max_errors: 1 }),
      "+ \r\n" + BAD("a1") + "[close too-many-errors]",
    );
  });

  test("a continuation line is parsed as data, never as a command", () => {
    assert.equal(client("a1 AUTHENTICATE PLAIN\r\na2 LOGOUT\r\n"), "+ \r\n" + BAD("a1"));
  });

  test("a too long continuation line closes with the AUTHENTICATE tag", () => {
    assert.equal(
      client("a1 AUTHENTICATE PLAIN\r\n" + "A".repeat(40) + "\r\n", { imap_client_buffer: 32 }),
      "+ \r\n" + BAD("a1") + "[close too-long]",
    );
  });
});

describe("IMAP auth outcome", () => {
  test("a refused LOGIN gets <tag> NO <text> and the machine accepts commands again", () => {
    const m = imapMachine();
    assert.equal(render(m.feed("a1 LOGIN john wrong\r\n")), '[auth plain user="john" pass="wrong" tag="a1 "]');
    assert.equal(render(m.authFailed("Invalid login or password")), "a1 NO Invalid login or password\r\n");
    assert.equal(render(m.feed("a2 NOOP\r\n")), "a2 OK completed\r\n");
  });

  test("transcript §3.5: AUTHENTICATE PLAIN, delayed failure, then LOGOUT", () => {
    const m = imapMachine();
    let out = render(m.greeting());
    out += render(m.feed("a1 AUTHENTICATE PLAIN\r\n"));
    out += render(m.feed("AGpvaG4Ac2VjcmV0\r\n"));
    out += render(m.authFailed("Invalid login or password"));
    out += render(m.feed("a2 LOGOUT\r\n"));
    assert.equal(
      out,
      "* OK IMAP4 ready\r\n+ \r\n" + '[auth plain user="john" pass="secret" tag="a1 "]' +
        "a1 NO Invalid login or password\r\n* BYE\r\na2 OK completed\r\n[close quit]",
    );
  });

  test("input arriving while the auth service is asked is held, then resumed with feed('')", () => {
    const m = imapMachine();
    assert.equal(render(m.feed("a1 LOGIN john wrong\r\na2 NO")), '[auth plain user="john" pass="wrong" tag="a1 "]');
    assert.deepEqual(m.feed("OP\r\n"), []);
    assert.equal(render(m.authFailed("Try again")), "a1 NO Try again\r\n");
    assert.equal(render(m.feed("")), "a2 OK completed\r\n");
  });

  test("after a successful auth the bytes after the command are pending for the backend", () => {
    const m = imapMachine();
    m.feed("a1 LOGIN john secret\r\na2 SELECT INBOX\r\n");
    m.feed("a3 FETCH 1 BODY[]\r\n");
    assert.equal(m.takePending(), "a2 SELECT INBOX\r\na3 FETCH 1 BODY[]\r\n");
  });
});

describe("IMAP transcripts (§3.5)", () => {
  test("LOGIN with quoted strings after CAPABILITY with starttls on", () => {
    assert.equal(
      client('a1 CAPABILITY\r\na2 LOGIN "john" "pa ss\\"word"\r\n', { starttls: "on" }),
      "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN STARTTLS\r\na1 OK completed\r\n" +
        '[auth plain user="john" pass="pa ss\\"word" tag="a2 "]',
    );
  });

  test("LOGIN with synchronising literals gets a continuation for each", () => {
    assert.equal(
      client("x LOGIN {4}\r\njohn {6}\r\nsecret\r\n"),
      '+ OK\r\n+ OK\r\n[auth plain user="john" pass="secret" tag="x "]',
    );
  });

  test("the errors transcript: counted and uncounted rejections", () => {
    const m = imapMachine({ max_errors: 3 });
    const out = feedChunks(m, ["a1 SELECT INBOX\r\n", "a2 LOGIN onlyone\r\n", "\r\n", "a3 STARTTLS\r\n"]);
    assert.equal(render(out.actions), BAD("a1") + BAD("a2") + BAD("*") + BAD("a3"));
    // Two counted so far (SELECT, empty line): the third closes.
    assert.equal(render(m.feed("a4 FOO\r\n")), BAD("a4") + "[close too-many-errors]");
  });
});

describe("IMAP command syntax (§3.2)", () => {
  test("an unknown command word is a syntax error with the tag", () => {
    assert.equal(client("a1 SELECT INBOX\r\n"), BAD("a1"));
  });

  test("an empty line is answered untagged", () => {
    assert.equal(client("\r\n"), BAD("*"));
  });

  test("a line with only a tag is answered untagged", () => {
    assert.equal(client("a1\r\n"), BAD("*"));
  });

  test("a tag followed by a space but no command is answered with the tag", () => {
    assert.equal(client("a1 \r\n"), BAD("a1"));
  });

  test("tags with characters outside A-Za-z0-9-._ are answered untagged", () => {
    assert.equal(client("* NOOP\r\n+ NOOP\r\na*1 NOOP\r\na{1 NOOP\r\n"), BAD("*").repeat(4));
  });

  test("a tag may use every allowed character class", () => {
    assert.equal(client("Az09-._ NOOP\r\n"), "Az09-._ OK completed\r\n");
  });

  test("a tag of 32 characters is accepted, 33 is a syntax error", () => {
    const t32 = "t".repeat(32);
    assert.equal(client(`${t32} NOOP\r\n${t32}x NOOP\r\n`), `${t32} OK completed\r\n` + BAD("*"));
  });

  test("a command word with a digit is a syntax error", () => {
    assert.equal(client("a1 NOOP1\r\n"), BAD("a1"));
  });

  test("several spaces between tokens and trailing spaces are accepted", () => {
    assert.equal(client("a1   LOGIN   john    secret   \r\n"), '[auth plain user="john" pass="secret" tag="a1 "]');
  });

  test("a bare LF ends a line like CRLF", () => {
    assert.equal(client("a1 NOOP\na2 LOGIN john secret\n"), 'a1 OK completed\r\n[auth plain user="john" pass="secret" tag="a2 "]');
  });

  test("a CR not followed by LF makes the command invalid and the rest of the line is skipped", () => {
    assert.equal(client("a1 NOOP\rx LOGOUT\r\na2 NO\rOP\r\na3 NOOP\r\n"), BAD("a1") + BAD("a2") + "a3 OK completed\r\n");
  });

  test("a fourth argument is a syntax error", () => {
    assert.equal(client("a1 CAPABILITY a b c d\r\n", { max_errors: 1 }), BAD("a1") + "[close too-many-errors]");
  });

  test("three arguments are accepted (CAPABILITY ignores them)", () => {
    assert.equal(client("a1 CAPABILITY a b c\r\n", { max_errors: 1 }), DEFAULT_CAPS + "a1 OK completed\r\n");
  });

  test("a syntax error skips the rest of its line, including literal markers", () => {
    assert.equal(client("a1 FOO {5}\r\na2 NOOP\r\n"), BAD("a1") + "a2 OK completed\r\n");
  });

  test("an invalid line ending in a non-synchronising literal closes after BAD", () => {
    assert.equal(client("a1 FOO {5+}\r\nhello\r\n"), BAD("a1") + "[close unknown-literal]");
  });

  test("an invalid line ending in {N+} with a bare LF also closes", () => {
    assert.equal(client("a1 LOGIN a b c {5+}\nhello\r\n"), BAD("a1") + "[close unknown-literal]");
  });
});

describe("IMAP quoted strings", () => {
  test("backslash escapes any character", () => {
    assert.equal(client('a1 LOGIN "jo\\\\hn" "a\\"b\\c"\r\n'), '[auth plain user="jo\\\\hn" pass="a\\"bc" tag="a1 "]');
  });

  test("a backslash right before the line end is a syntax error", () => {
    assert.equal(client('a1 LOGIN "john" "abc\\\r\n', { max_errors: 1 }), BAD("a1") + "[close too-many-errors]");
  });

  test("text right after a closing quote starts a new argument", () => {
    assert.equal(client('a1 LOGIN "john"secret\r\n'), '[auth plain user="john" pass="secret" tag="a1 "]');
  });

  test("a quoted string left open ends with the line", () => {
    assert.equal(client('a1 LOGIN john "sec ret\r\n'), '[auth plain user="john" pass="sec ret" tag="a1 "]');
  });

  test("a quote inside an atom is an ordinary character", () => {
    assert.equal(client('a1 LOGIN jo"hn se"cret\r\n'), '[auth plain user="jo\\"hn" pass="se\\"cret" tag="a1 "]');
  });

  test("user names and passwords keep every byte", () => {
    assert.equal(
      client('a1 LOGIN "\xd0\xbf\xff" p\x01ss\r\n'),
      `[auth plain user=${JSON.stringify("\xd0\xbf\xff")} pass=${JSON.stringify("p\x01ss")} tag="a1 "]`,
    );
  });
});

describe("IMAP literals", () => {
  test("non-synchronising literals get no continuation", () => {
    assert.equal(client("x LOGIN {4+}\r\njohn {6+}\r\nsecret\r\n"), '[auth plain user="john" pass="secret" tag="x "]');
  });

  test("{0} is an empty argument, with a continuation", () => {
    assert.equal(client("x LOGIN john {0}\r\n\r\n"), '+ OK\r\n[auth plain user="john" pass="" tag="x "]');
  });

  test("{0+} is an empty argument without a continuation", () => {
    assert.equal(client("x LOGIN {4+}\r\njohn {0+}\r\n\r\n"), '[auth plain user="john" pass="" tag="x "]');
  });

  test("literal data may contain CRLF and any byte but NUL", () => {
    assert.equal(
      client("x LOGIN {4}\r\nj\r\nn {4}\r\n\x01\r\n\xff\r\n"),
      `+ OK\r\n+ OK\r\n[auth plain user=${JSON.stringify("j\r\nn")} pass=${JSON.stringify("\x01\r\n\xff")} tag="x "]`,
    );
  });

  test("a user name or password with NUL is refused before the auth service hears of it (a literal to the backend cannot carry it)", () => {
    assert.equal(client("x LOGIN {4}\r\nj\0hn {2}\r\npw\r\ny NOOP\r\n"), "+ OK\r\n+ OK\r\n" + BAD("x") + "y OK completed\r\n");
    assert.equal(client("x LOGIN john {3}\r\np\0w\r\n"), "+ OK\r\n" + BAD("x"));
  });

  test("a literal mixed with atoms and quoted strings", () => {
    assert.equal(client('x LOGIN "john" {3}\r\nabc\r\n'), '+ OK\r\n[auth plain user="john" pass="abc" tag="x "]');
  });

  test("anything but a space or line end after literal data is a syntax error", () => {
    assert.equal(client("x LOGIN {4}\r\njohnX\r\nx2 NOOP\r\n"), "+ OK\r\n" + BAD("x") + "x2 OK completed\r\n");
  });

  test("malformed literal markers are syntax errors", () => {
    assert.equal(client("a LOGIN {4x}\r\nb LOGIN {}\r\nc LOGIN {4}x\r\nd LOGIN {4+x}\r\n"), BAD("a") + BAD("b") + BAD("c") + BAD("d"));
  });

  test("a literal that cannot fit in imap_client_buffer is refused before the continuation, then closes", () => {
    // "a1 LOGIN u {15}\r\n" is 17 bytes; 15 bytes of data and a line end cannot fit in 32.
    assert.equal(client("a1 LOGIN u {15}\r\n", { imap_client_buffer: 32 }), BAD("a1") + "[close too-long]");
    assert.equal(client("a1 LOGIN u {15+}\r\n", { imap_client_buffer: 32 }), BAD("a1") + "[close too-long]");
  });

  test("a command with literal data exactly filling imap_client_buffer is accepted", () => {
    // 17 + 13 + 2 = 32 bytes.
    assert.equal(
      client("a1 LOGIN u {13}\r\n" + "p".repeat(13) + "\r\n", { imap_client_buffer: 32 }),
      `+ OK\r\n[auth plain user="u" pass="${"p".repeat(13)}" tag="a1 "]`,
    );
  });

  test("literal data counts toward imap_client_buffer: one byte over closes after the continuation", () => {
    // 17 + 14 + 2 = 33 bytes.
    assert.equal(
      client("a1 LOGIN u {14}\r\n" + "p".repeat(14) + "\r\n", { imap_client_buffer: 32 }),
      "+ OK\r\n" + BAD("a1") + "[close too-long]",
    );
  });
});

describe("IMAP command buffer limit", () => {
  test("a command of exactly imap_client_buffer bytes is accepted", () => {
    assert.equal(client("a1 NOOP\r\n", { imap_client_buffer: 9 }), "a1 OK completed\r\n");
  });

  test("a longer command gets BAD with its tag and closes, without counting an error", () => {
    assert.equal(client("a1 NOOPX\r\na2 NOOP\r\n", { imap_client_buffer: 9, max_errors: 100 }), BAD("a1") + "[close too-long]");
  });

  test("a long line without a tag gets an untagged BAD and closes", () => {
    assert.equal(client("x".repeat(40), { imap_client_buffer: 16 }), BAD("*") + "[close too-long]");
  });

  test("the limit applies per command, not to pipelined input as a whole", () => {
    assert.equal(client("a1 NOOP\r\n".repeat(5), { imap_client_buffer: 9 }), "a1 OK completed\r\n".repeat(5));
  });
});

describe("IMAP max_errors", () => {
  test("transcript §9: max_errors 2 closes after the second invalid command", () => {
    assert.equal(client("a1 FOO\r\na2 BAR\r\na3 NOOP\r\n", { max_errors: 2 }), BAD("a1") + BAD("a2") + "[close too-many-errors]");
  });

  test("max_errors 1 closes on the first invalid command", () => {
    assert.equal(client("a1 FOO\r\na2 NOOP\r\n", { max_errors: 1 }), BAD("a1") + "[close too-many-errors]");
  });

  test("max_errors 0 closes on the first invalid command", () => {
    assert.equal(client("\r\na2 NOOP\r\n", { max_errors: 0 }), BAD("*") + "[close too-many-errors]");
  });

  test("the default of 5 allows four syntax errors, semantic rejections in between not counted", () => {
    const input = "a FOO\r\nb LOGIN x\r\nc FOO\r\nd STARTTLS\r\ne FOO\r\nf AUTHENTICATE X\r\ng FOO\r\nh NOOP\r\ni FOO\r\nj NOOP\r\n";
    assert.equal(
      client(input),
      BAD("a") + BAD("b") + BAD("c") + BAD("d") + BAD("e") + BAD("f") + BAD("g") + "h OK completed\r\n" + BAD("i") +
        "[close too-many-errors]",
    );
  });

  test("reaching max_errors on a line ending in {N+} closes as too many errors", () => {
    assert.equal(client("a1 FOO {3+}\r\nabc\r\n", { max_errors: 1 }), BAD("a1") + "[close too-many-errors]");
  });

  test("the error count survives STARTTLS", () => {
    const m = imapMachine({ max_errors: 2, starttls: "on" });
    assert.equal(render(m.feed("a1 FOO\r\na2 STARTTLS\r\n")), BAD("a1") + "a2 OK completed\r\n[starttls]");
    m.tlsStarted();
    assert.equal(render(m.feed("a3 FOO\r\n")), BAD("a3") + "[close too-many-errors]");
  });
});

describe("IMAP STARTTLS (§1.3)", () => {
  test("starttls off: STARTTLS is refused and not counted", () => {
    assert.equal(client("a3 STARTTLS\r\na4 NOOP\r\n", { max_errors: 1 }), BAD("a3") + "a4 OK completed\r\n");
  });

  test("starttls on: STARTTLS completes, asks for the upgrade and discards pipelined bytes", () => {
    const m = imapMachine({ starttls: "on" });
    assert.equal(
      client("a1 STARTTLS\r\na2 LOGIN john secret\r\n", { starttls: "on" }),
      "a1 OK completed\r\n[starttls]",
    );
    m.feed("a1 STARTTLS\r\na2 LOGIN john secret\r\n");
    assert.equal(m.takePending(), "");
    assert.deepEqual(m.feed("a3 LOGIN injected command\r\n"), [], "plaintext before the handshake is dropped");
    m.tlsStarted();
    assert.equal(render(m.feed("a4 NOOP\r\n")), "a4 OK completed\r\n");
  });

  test("after TLS the capabilities drop STARTTLS and STARTTLS is refused", () => {
    const m = imapMachine({ starttls: "on" });
    m.feed("a1 STARTTLS\r\n");
    m.tlsStarted();
    assert.equal(render(m.feed("a2 CAPABILITY\r\na3 STARTTLS\r\n")), DEFAULT_CAPS + "a2 OK completed\r\n" + BAD("a3"));
  });

  test("STARTTLS is refused on an implicit TLS listener", () => {
    assert.equal(client("a1 STARTTLS\r\n", { starttls: "on", implicitTls: true }), BAD("a1"));
  });

  test("starttls only: LOGIN and AUTHENTICATE are refused until TLS, CAPABILITY says LOGINDISABLED", () => {
    const m = imapMachine({ starttls: "only" });
    assert.equal(
      render(m.feed("a1 CAPABILITY\r\na2 LOGIN john secret\r\na3 AUTHENTICATE PLAIN AGpvaG4Ac2VjcmV0\r\na4 STARTTLS\r\n")),
      "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS STARTTLS LOGINDISABLED\r\na1 OK completed\r\n" + BAD("a2") + BAD("a3") +
        "a4 OK completed\r\n[starttls]",
    );
    m.tlsStarted();
    assert.equal(
      render(m.feed("a5 CAPABILITY\r\na6 LOGIN john secret\r\n")),
      DEFAULT_CAPS + 'a5 OK completed\r\n[auth plain user="john" pass="secret" tag="a6 "]',
    );
  });

  test("starttls only on an implicit TLS listener allows LOGIN at once", () => {
    assert.equal(client("a1 LOGIN john secret\r\n", { starttls: "only", implicitTls: true }), '[auth plain user="john" pass="secret" tag="a1 "]');
  });

  test("after the handshake there is no new greeting: the first output answers the next command", () => {
    const m = imapMachine({ starttls: "on" });
    m.feed("a1 STARTTLS\r\n");
    m.tlsStarted();
    assert.equal(render(m.feed("a2 NOOP\r\n")), "a2 OK completed\r\n");
  });
});

describe("IMAP pipelining", () => {
  test("commands in one feed are answered in order and processing stops at auth", () => {
    const m = imapMachine();
    const out = feedChunks(m, ["a1 NOOP\r\na2 CAPABILITY\r\na3 LOGIN john secret\r\na4 SELECT INBOX\r\n"]);
    assert.equal(
      render(out.actions),
      "a1 OK completed\r\n" + DEFAULT_CAPS + 'a2 OK completed\r\n[auth plain user="john" pass="secret" tag="a3 "]',
    );
    assert.equal(out.pending, "a4 SELECT INBOX\r\n");
  });

  test("pending bytes after auth are identical however the input was split", () => {
    assert.equal(
      client("a1 LOGIN {4}\r\njohn secret\r\na2 SELECT {5}\r\nINBOX\r\n"),
      '+ OK\r\n[auth plain user="john" pass="secret" tag="a1 "]',
    );
  });

  test("a SASL exchange pipelined with the command that follows it", () => {
    assert.equal(
      client("a1 AUTHENTICATE PLAIN\r\n*\r\na2 AUTHENTICATE LOGIN\r\nam9obg==\r\nc2VjcmV0\r\na3 NOOP\r\n"),
      "+ \r\n" + BAD("a1") + '+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n[auth plain user="john" pass="secret" tag="a2 "]',
    );
  });
});
