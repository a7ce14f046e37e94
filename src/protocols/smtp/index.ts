/** SMTP: the pre-authentication machine, its pieces, and the backend login. */
export { SMTP_LINES, SmtpPreauth, type SmtpPreauthOptions } from "./preauth.ts";
export { SmtpBackendLogin, type SmtpBackendLoginOptions } from "./backend_login.ts";
export { type EhloOptions, ehloReply } from "./capabilities.ts";
export { parseSmtpCommand, SMTP_VERBS, type SmtpCommand, type SmtpVerb } from "./command.ts";
export { isCompleteSmtpReply, smtpReply } from "./reply.ts";
export { xtext } from "../../wire/xtext.ts";
