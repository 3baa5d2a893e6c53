#!/bin/sh
# Makes the workers' shared secret for docker compose: 32 random bytes as 64
# hex characters and a newline, in docker/secrets/slate.key (or FILE).
#
#   docker/gen-key.sh [FILE]
#
# Never overwrites an existing key: every token stored at rest is encrypted
# with a key derived from it, and a lost or replaced key makes them unreadable
# (the integrations must then be connected again).  Keep a copy somewhere safe.
#
# The file is made mode 0600 for you (umask 077).  The containers run as uid
# 10001 and compose bind-mounts the file with the host's owner and mode, so
# uid 10001 must be able to read it (docker/README.md):
#   * as root: the file is given to uid 10001, mode 0400 (used as it is);
#   * otherwise, when setfacl exists: uid 10001 gets read through an ACL (the
#     entrypoint then keeps a private 0400 copy in the container's tmpfs);
#   * otherwise: what to run is printed.
set -eu

uid=10001
file=${1:-$(dirname "$0")/secrets/slate.key}

if [ -e "$file" ]; then
    echo "gen-key: $file exists; not replacing a key (stored tokens depend on it)" >&2
    exit 1
fi
umask 077
mkdir -p "$(dirname "$file")"
tmp="$file.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# od and tr are in every base system; /dev/urandom is the kernel's CSPRNG.
hex=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
if [ ${#hex} -ne 64 ]; then
    echo "gen-key: could not read 32 bytes from /dev/urandom" >&2
    exit 1
fi
printf '%s\n' "$hex" >"$tmp"
hex=""
mv "$tmp" "$file"
trap - EXIT

if [ "$(id -u)" = 0 ]; then
    chown "$uid:$uid" "$file"
    chmod 0400 "$file"
    echo "gen-key: wrote $file (owner uid $uid, mode 0400: the workers use it as it is)"
elif command -v setfacl >/dev/null 2>&1 && setfacl -m "u:$uid:r" "$file" 2>/dev/null; then
    echo "gen-key: wrote $file (mode 0600, and read for uid $uid through an ACL;" \
         "the containers keep a private 0400 copy in memory)"
else
    echo "gen-key: wrote $file (mode 0600, yours).  uid $uid in the containers cannot read it yet:"
    echo "  best:        sudo chown $uid:$uid '$file' && sudo chmod 0400 '$file'"
    echo "  without root: setfacl -m u:$uid:r '$file'   (package acl)"
fi
