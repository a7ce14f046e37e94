#!/bin/sh
# `make run`: the demo auth service and IMAP mailbox, then dist/mailproxy in front of them.
set -e
cd "$(dirname "$0")/.."
node_modules/.bin/bun scripts/demo/main.ts &
DEMO=$!
trap 'kill $DEMO 2>/dev/null || true' EXIT INT TERM
sleep 1
echo
echo "mailproxy is listening on 127.0.0.1:1143 (IMAP). In another terminal:"
echo "  curl 'imap://127.0.0.1:1143/INBOX;UID=1' --user alice:wonderland"
echo "  python3 -c \"import imaplib; m=imaplib.IMAP4('127.0.0.1',1143); print(m.login('bob','builder'))\""
echo "Stop with Ctrl-C."
echo
dist/mailproxy -c examples/demo.conf
