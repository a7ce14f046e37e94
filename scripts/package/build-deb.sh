#!/bin/sh
# Builds dist/mailproxy_VERSION_ARCH.deb from dist/mailproxy and the files in this folder.
# Usage: sh scripts/package/build-deb.sh  (run from the repository root by `make dist`)
set -eu
BUN=${BUN:-node_modules/.bin/bun}
version=$(sed -n 's/^export const VERSION = "\(.*\)";$/\1/p' src/version.ts)
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
root=dist/deb-root
deb=dist/mailproxy_${version}_${arch}.deb

rm -rf "$root"
sh scripts/package/install.sh "$root" /usr
mkdir -p "$root/DEBIAN"
size=$(du -sk "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: mailproxy
Version: $version
Architecture: $arch
Maintainer: mailproxy maintainers <mailproxy@localhost>
Installed-Size: $size
Section: mail
Priority: optional
Homepage: https://example.invalid/mailproxy
Description: IMAP, POP3 and SMTP proxy, a drop-in for nginx's mail proxy
 mailproxy reads nginx's mail configuration (or TOML), authenticates clients
 through an auth_http service and relays their sessions to the backends, with
 workers, graceful reload, PROXY protocol and Prometheus metrics.
CONTROL
echo /etc/mailproxy/mailproxy.conf > "$root/DEBIAN/conffiles"
cat > "$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
POSTINST
cat > "$root/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
POSTRM
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/postrm"
# Owned by root whoever builds it (no fakeroot needed); gzip: xz takes ~40 s on the
# 100 MB binary for a 25% smaller file.
dpkg-deb --root-owner-group -Zgzip --build "$root" "$deb" >/dev/null
rm -rf "$root"
echo "$deb"
