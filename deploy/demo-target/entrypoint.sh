#!/bin/sh
# The demo target's PID 1 work: authorize Triage's key for the unprivileged
# `triage` user, publish this host's key for the workers' known_hosts, start
# nginx and the app in the state $DEMO_BREAK names (see break-app), then run
# sshd in the foreground.
set -eu
KEYS=/keys
rm -f "$KEYS/known_hosts"   # a stale one (last container's host key) must not read as ready
i=0
while [ ! -s "$KEYS/triage_ed25519.pub" ] && [ "$i" -lt 300 ]; do sleep 0.2; i=$((i + 1)); done
if [ ! -s "$KEYS/triage_ed25519.pub" ]; then echo "demo-target: no $KEYS/triage_ed25519.pub (the keys service makes it)" >&2; exit 1; fi
install -d -m 0700 -o triage -g triage /home/triage/.ssh
install -m 0600 -o triage -g triage "$KEYS/triage_ed25519.pub" /home/triage/.ssh/authorized_keys
[ -s /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
# known_hosts line for `demo-target` (the address in deploy/triage.yaml); written last, so a worker that sees it can connect.
printf 'demo-target %s\n' "$(cut -d' ' -f1-2 /etc/ssh/ssh_host_ed25519_key.pub)" >"$KEYS/known_hosts.tmp"
chmod 0644 "$KEYS/known_hosts.tmp"
mkdir -p /run/sshd /var/log/demo
chown app:app /var/log/demo
break-app "${DEMO_BREAK:-crash}"
mv "$KEYS/known_hosts.tmp" "$KEYS/known_hosts"
exec /usr/sbin/sshd -D -e
