/**
 * `make run`: a demo auth service and a demo IMAP mailbox on loopback, for
 * trying mailproxy within a minute of cloning. Prints who can log in.
 */
import { startDemoImap } from "./imap_backend.ts";
import { startDemoAuth } from "./auth_service.ts";

const USERS = { alice: "wonderland", bob: "builder" };
const WELCOME = (to: string) =>
  `From: mailproxy demo <demo@example.org>\r\nTo: ${to}@example.org\r\nSubject: Welcome to mailproxy\r\n` +
  `\r\nThis message came through mailproxy from the demo IMAP backend.\r\n`;

const imap = await startDemoImap(
  Object.fromEntries(Object.entries(USERS).map(([u, p]) => [u, { password: p, messages: [WELCOME(u)] }])),
  "127.0.0.1",
  10143,
);
const auth = await startDemoAuth({ users: USERS, backend: { host: "127.0.0.1", port: imap.port } }, "127.0.0.1", 9000);
console.log(`DEMO (not a mail server): auth_http on 127.0.0.1:${auth.port}, IMAP mailbox on 127.0.0.1:${imap.port}`);
console.log(`DEMO users: ${Object.entries(USERS).map(([u, p]) => `${u}/${p}`).join(", ")}`);
const stop = () => {
  imap.close();
  auth.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
