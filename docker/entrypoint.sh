#!/bin/sh
# slate-entrypoint: the image's ENTRYPOINT.  Makes the secret key file usable
# by the worker, then execs the command (so the command is PID 1, or tini's
# only child with `init: true`, and gets SIGTERM itself).
#
# The worker (and slatectl) refuse a key file that grants any permission to
# group or others: SLATE_SECRET_KEY_FILE, and SLATE_PREVIOUS_SECRET_KEY_FILE
# (the old key while keys are rotated), are handled alike.  `docker compose` mounts a `secrets:` file from the host as
# a bind mount: owner and mode are the host file's, and the long syntax's
# uid/gid/mode are ignored for file secrets.  So:
#
#   * variable unset, or the file is owned by this user with no group/other
#     bits (host file chown 10001, chmod 0400): used as it is;
#   * otherwise, if this user can read it (host file 0444, or an ACL for uid
#     10001), it is copied to a private tmpfs file, SLATE_KEY_COPY_DIR
#     (default /run/slate, a tmpfs in compose.yml) + /slate_key (or
#     /slate_previous_key), mode 0400, and the variable points at the copy;
#   * the copy is never written to a disk: the directory must be a tmpfs
#     owned by this user, or the entrypoint stops;
#   * an unreadable file stops the entrypoint with what to do (docker/README.md).
#
# Nothing here prints the key, and the key never goes into the environment.
set -eu

die() {
    echo "slate-entrypoint: $*" >&2
    exit 2
}

# prepare_key VARIABLE FILE COPY_NAME: prints the file the program should use.
prepare_key() {
    var=$1
    src=$2
    name=$3
    me=$(id -u)
    if [ ! -e "$src" ]; then
        echo "slate-entrypoint: $var: $src does not exist: with compose, declare the" \
             "secret (docker/README.md); the worker will stop" >&2
        echo "$src"
        return 0
    fi
    # Owner and permission bits of the file (a symlink is followed, as open does).
    owner=$(stat -L -c %u "$src")
    mode=$(stat -L -c %a "$src")
    case $mode in
        ?00 | ??00) if [ "$owner" = "$me" ]; then echo "$src"; return 0; fi ;;
    esac
    if [ ! -r "$src" ]; then
        die "$var: cannot read $src (owner uid $owner, mode $mode) as uid $me." \
            "Give the host file to uid $me (chown $me:$me, chmod 0400), or grant uid $me read" \
            "with an ACL (setfacl -m u:$me:r FILE); see docker/README.md"
    fi
    dir=${SLATE_KEY_COPY_DIR:-/run/slate}
    [ -d "$dir" ] || die "$dir does not exist: mount a tmpfs there (compose.yml: tmpfs: $dir)"
    fstype=$(stat -f -c %T "$dir")
    case $fstype in
        tmpfs | ramfs) ;;
        *) die "$dir is $fstype, not a tmpfs: refusing to copy the secret key to a disk" ;;
    esac
    downer=$(stat -c %u "$dir")
    dmode=$(stat -c %a "$dir")
    if [ "$downer" != "$me" ]; then
        die "$dir belongs to uid $downer, not to uid $me (compose.yml: tmpfs: $dir:uid=$me,gid=$me,mode=0700)"
    fi
    case $dmode in
        ?00 | ??00) ;;
        *) die "$dir is mode $dmode: it must be private to uid $me (mode 0700)" ;;
    esac
    dst=$dir/$name
    tmp=$dir/.$name.$$
    old_umask=$(umask)
    umask 077
    rm -f "$tmp"
    cat -- "$src" >"$tmp" || { rm -f "$tmp"; die "cannot copy $src to $dir"; }
    chmod 0400 "$tmp"
    mv -f "$tmp" "$dst"
    umask "$old_umask"
    echo "slate-entrypoint: $var: $src is owner uid $owner, mode $mode;" \
         "using a private copy, $dst (mode 0400, tmpfs)" >&2
    echo "$dst"
}

[ $# -gt 0 ] || set -- slate-worker

case $(basename -- "$1") in
    slate-worker | slatectl)
        if [ -n "${SLATE_SECRET_KEY_FILE:-}" ]; then
            SLATE_SECRET_KEY_FILE=$(prepare_key SLATE_SECRET_KEY_FILE \
                "$SLATE_SECRET_KEY_FILE" slate_key) || exit 2
            export SLATE_SECRET_KEY_FILE
        fi
        if [ -n "${SLATE_PREVIOUS_SECRET_KEY_FILE:-}" ]; then
            SLATE_PREVIOUS_SECRET_KEY_FILE=$(prepare_key SLATE_PREVIOUS_SECRET_KEY_FILE \
                "$SLATE_PREVIOUS_SECRET_KEY_FILE" slate_previous_key) || exit 2
            export SLATE_PREVIOUS_SECRET_KEY_FILE
        fi
        ;;
esac

exec "$@"
