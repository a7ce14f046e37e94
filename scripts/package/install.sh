#!/bin/sh
# Installs dist/mailproxy, its man page, unit, completion and default config.
# Usage: sh scripts/package/install.sh DESTDIR PREFIX   (e.g. "" /usr/local)
# The config never overwrites an existing one (an admin's edits survive `make install`).
set -eu
destdir=$1
prefix=${2:-/usr/local}
here=scripts/package
BUN=${BUN:-node_modules/.bin/bun}

install -D -m 0755 dist/mailproxy "$destdir$prefix/bin/mailproxy"
mkdir -p "$destdir$prefix/share/man/man8"
"$BUN" scripts/gen-man.ts | gzip -9n > "$destdir$prefix/share/man/man8/mailproxy.8.gz"
install -D -m 0644 "$here/mailproxy.bash-completion" "$destdir$prefix/share/bash-completion/completions/mailproxy"
# The unit runs /usr/bin/mailproxy; for another prefix it names that binary instead.
mkdir -p "$destdir$prefix/lib/systemd/system"
sed "s#/usr/bin/mailproxy#$prefix/bin/mailproxy#g" "$here/mailproxy.service" > "$destdir$prefix/lib/systemd/system/mailproxy.service"
chmod 0644 "$destdir$prefix/lib/systemd/system/mailproxy.service"
if [ ! -e "$destdir/etc/mailproxy/mailproxy.conf" ]; then
    install -D -m 0644 "$here/mailproxy.conf" "$destdir/etc/mailproxy/mailproxy.conf"
fi
install -D -m 0644 docs/deploy.md "$destdir$prefix/share/doc/mailproxy/deploy.md"
install -D -m 0644 scripts/package/haproxy.cfg "$destdir$prefix/share/doc/mailproxy/examples/haproxy.cfg"
