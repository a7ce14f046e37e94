/** IMAP: the pre-authentication machine, its pieces, and the backend login. */
export { ImapPreauth, IMAP_GREETING, IMAP_LINES, type ImapPreauthOptions } from "./preauth.ts";
export { ImapBackendLogin } from "./backend_login.ts";
export { imapCapabilityLine, type ImapCapabilityOptions } from "./capabilities.ts";
export { IMAP_COMMANDS, type ImapCommandName, ImapCommandReader, type ImapReaderEvent } from "./command_reader.ts";
