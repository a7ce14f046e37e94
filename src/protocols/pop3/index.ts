/** POP3: the pre-authentication machine, its pieces, and the backend login. */
export { POP3_LINE_LIMIT, POP3_LINES, Pop3Preauth, type Pop3PreauthOptions } from "./preauth.ts";
export { Pop3BackendLogin } from "./backend_login.ts";
export { pop3AuthListing, pop3Capa, type Pop3CapaOptions } from "./capabilities.ts";
export { parsePop3Command, POP3_VERBS, type Pop3Command, type Pop3Verb } from "./command.ts";
