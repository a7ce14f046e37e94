"""Everything the benchmark needs before it can run: the C tools, Debian's nginx
with the mail module, and a throwaway TLS certificate."""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NGINX = "/usr/sbin/nginx"
MAIL_MODULE = "/usr/lib/nginx/modules/ngx_mail_module.so"
POLICY_RC = "/usr/sbin/policy-rc.d"


def build_tools(out_dir: str) -> dict[str, str]:
    """Compile bench-auth, bench-backend and bench-load with the machine's cc."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        sys.exit("bench: no C compiler (cc/gcc/clang) found")
    os.makedirs(out_dir, exist_ok=True)
    tools = {}
    for name, libs in (("auth", []), ("backend", []), ("load", ["-lssl", "-lcrypto"])):
        src = os.path.join(HERE, "c", f"{name}.c")
        exe = os.path.join(out_dir, f"bench-{name}")
        cmd = [cc, "-O2", "-Wall", "-o", exe, src, *libs]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            hint = " (is libssl-dev installed?)" if libs else ""
            sys.exit(f"bench: building {name} failed{hint}:\n{r.stderr}")
        tools[name] = exe
    return tools


def ensure_nginx() -> None:
    """Find Debian's nginx + libnginx-mod-mail, installing them (as root) with no service started."""
    if os.path.exists(NGINX) and os.path.exists(MAIL_MODULE):
        return
    if os.geteuid() != 0:
        sys.exit("bench: nginx with the mail module is missing; as root run:\n"
                 "  apt-get install -y --no-install-recommends nginx-light libnginx-mod-mail")
    created_policy = not os.path.exists(POLICY_RC)
    if created_policy:
        # exit 101: "action forbidden", so dpkg does not start the nginx service
        with open(POLICY_RC, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(POLICY_RC, 0o755)
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for pkgs in (["nginx-light", "libnginx-mod-mail"], ["nginx", "libnginx-mod-mail"]):
            r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *pkgs], env=env)
            if r.returncode == 0:
                break
        else:
            sys.exit("bench: could not install nginx + libnginx-mod-mail")
    finally:
        if created_policy:
            os.remove(POLICY_RC)
    if not (os.path.exists(NGINX) and os.path.exists(MAIL_MODULE)):
        sys.exit(f"bench: {NGINX} or {MAIL_MODULE} still missing after install")


def nginx_version() -> str:
    r = subprocess.run([NGINX, "-v"], capture_output=True, text=True)
    return r.stderr.strip().split("/")[-1]


def make_cert(work: str) -> tuple[str, str]:
    """A self-signed RSA-2048 certificate (the common deployment default), or with
    BENCH_CERT_KEY=ec a P-256 ECDSA one (a handshake's signature is most of its cost)."""
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    kind = os.environ.get("BENCH_CERT_KEY", "rsa")
    if kind not in ("rsa", "ec"):
        raise SystemExit(f"bench: BENCH_CERT_KEY takes rsa or ec, not {kind}")
    newkey = ["-newkey", "rsa:2048"] if kind == "rsa" else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    subprocess.run(["openssl", "req", "-x509", *newkey, "-nodes", "-subj", "/CN=bench.test",
                    "-days", "2", "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key
