"""The one `mail { }` block both proxies get, and each one's top level."""
from dataclasses import dataclass


@dataclass
class Ports:
    backend_imap: int
    backend_pop3: int
    backend_smtp: int
    auth: int
    imap: int
    pop3: int
    smtp: int
    imaps: int
    auth_closing: int  # the auth service in `closing` mode (HTTP/1.0 answers, then close)

    @staticmethod
    def from_base(base: int) -> "Ports":
        return Ports(*(base + i for i in range(9)))

    def listen(self) -> list[int]:
        return [self.imap, self.pop3, self.smtp, self.imaps]


AUTH_MODES = ("keepalive", "closing")


def auth_port(p: Ports, auth: str) -> int:
    """The auth service a proxy asks: keep-alive (HTTP/1.1 pooled) or closing (nginx's usual world)."""
    return p.auth_closing if auth == "closing" else p.auth


def login_key(auth: str, key: str) -> str:
    """Results of the scenarios that ask the auth service, per mode: "storm/imap" (keep-alive),
    "closing/storm/imap"."""
    return key if auth == "keepalive" else f"{auth}/{key}"


def mail_block(p: Ports, cert: str, key: str, auth: str = "keepalive") -> str:
    return f"""mail {{
    server_name bench.test;
    auth_http 127.0.0.1:{auth_port(p, auth)}/auth;
    xclient off;
    proxy_smtp_auth off;
    imap_auth plain login;
    pop3_auth plain;
    smtp_auth plain login;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;

    server {{ listen 127.0.0.1:{p.imap}; protocol imap; }}
    server {{ listen 127.0.0.1:{p.pop3}; protocol pop3; }}
    server {{ listen 127.0.0.1:{p.smtp}; protocol smtp; }}
    server {{ listen 127.0.0.1:{p.imaps} ssl; protocol imap; }}
}}
"""


def top_level(workers: int, error_log: str, nginx_module: str | None) -> str:
    lines = []
    if nginx_module:
        lines.append(f"load_module {nginx_module};")
    lines += [
        f"worker_processes {workers};",
        "worker_rlimit_nofile 20000;",
        f"error_log {error_log} error;",
        "events { worker_connections 20000; }",
    ]
    return "\n".join(lines) + "\n"
