/**
 * The login at the backend the auth source named, as one step for the session
 * shell: the protocol's login dialogue, the PROXY header out, TLS to the backend.
 */
import type { NetSocket } from "../net/socket.ts";
import { defaultSockets } from "../net/choose.ts";
import type { EffectiveServer } from "../config/model.ts";
import type { ClientTlsInfo } from "../auth/types.ts";
import type { LoginRefusal } from "../protocols/types.ts";
import { createBackendLogin } from "../protocols/factory.ts";
import { createBackendStarttls } from "../protocols/factory.ts";
import { loginToBackend } from "../upstream/backend.ts";
import { upstreamTlsMode, upstreamTlsSetup, type UpstreamTlsSetup } from "../upstream/tls_out.ts";
import { type ConnectionAddresses, proxyHeaderV1, proxyHeaderV2, unmapped } from "../wire/proxy_header.ts";
import { proxyTlsFacts } from "../tls/client_info.ts";
import type { BackendTarget } from "./session_core.ts";

/** What the session knows of its client for the backend (XCLIENT, IMAP ID, the PROXY header). */
interface ClientFacts extends ConnectionAddresses {
  clientAddr: string;
  clientHost: string;
  tls?: ClientTlsInfo;
  /** The negotiated ALPN id of the client connection. */
  alpn?: string;
}

export type BackendStepResult =
  | { type: "ok"; socket: NetSocket; toClient: string }
  /**
   * `refused`: the backend turned the credentials down (not a broken dialogue; pools do
   * not count it against the backend). `refusal`: its words, when the backend decides (passthrough).
   */
  | { type: "fail"; reason: string; reply?: string; refused: boolean; refusal?: LoginRefusal };

/** Log in at `target`; never rejects (a bad upstream TLS setup is a failure with its reason). */
export async function backendStep(server: EffectiveServer, target: BackendTarget, client: ClientFacts): Promise<BackendStepResult> {
  const login = createBackendLogin(server, {
    user: target.user,
    pass: target.pass,
    credentials: target.credentials,
    context: target.context,
    clientIp: client.clientAddr,
    clientHost: client.clientHost,
    clientPort: client.clientPort,
    // only when proxy_imap_id sends it: no address string per login otherwise
    localIp: client.localAddr && server.proxy_imap_id ? unmapped(client.localAddr) : undefined,
    localPort: client.localAddr ? client.localPort : undefined,
    proxySmtpAuth: target.proxySmtpAuth,
  });
  const proxyHeader = server.proxy_protocol === "on"
    ? proxyHeaderV1(client)
    : server.proxy_protocol === "v2"
    ? proxyHeaderV2(client, client.tls && proxyTlsFacts(client.tls, client.alpn))
    : undefined;
  const tlsMode = upstreamTlsMode(server, target.sslUpstream);
  let tls: UpstreamTlsSetup | undefined;
  try {
    tls = tlsMode ? upstreamTlsSetup(server, target.host, tlsMode) : undefined;
  } catch (err) {
    return { type: "fail", reason: (err as Error).message, refused: false };
  }
  const outcome = await loginToBackend({
    target,
    protocol: server.protocol,
    login,
    replyLimit: server.proxy_buffer,
    deadlineMs: server.timeout,
    proxyHeader,
    // Bun's native client TLS has every feature backends use (README, TLS table).
    sockets: defaultSockets(),
    tls,
    starttls: tls ? createBackendStarttls(server.protocol, server.server_name) : undefined,
  });
  if (outcome.type === "ok") return outcome;
  const refused = login.refusal !== undefined;
  return target.backendDecides && login.refusal ? { ...outcome, refused, refusal: login.refusal } : { ...outcome, refused };
}
