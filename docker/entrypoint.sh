#!/bin/sh
# Entrypoint of the vraagbaak image: make the data folders usable, then run the command
# (default: the bot) as an unprivileged user.
#
# Started as root (the image's default): create the data folders, give what in them is
# not owned by the app user to that user (a bind-mounted host folder belongs to a host
# uid), then drop to the app user with setpriv and start this script again, which runs
# the checks below and the command.
# Started as any other user (`docker run --user "$(id -u):$(id -g)"`): check that the
# index and state folders can be written, stop with a clear message (exit 2) if not,
# and run the command.
#
# APP_USER (default vraagbaak) and APP_DATA_DIR (default /app/data) are for tests;
# TRANSCRIPTS_DIR, INDEX_DIR and STATE_DIR are the bot's own settings.
set -eu

app_user=${APP_USER:-vraagbaak}
data_dir=${APP_DATA_DIR:-/app/data}
transcripts_dir=${TRANSCRIPTS_DIR:-$data_dir/transcripts}
index_dir=${INDEX_DIR:-$data_dir/index}
state_dir=${STATE_DIR:-$data_dir/state}

[ "$#" -gt 0 ] || set -- python -m bot

say() {
    printf 'entrypoint: %s\n' "$@" >&2
}

if [ "$(id -u)" = 0 ]; then
    if ! uid=$(id -u "$app_user" 2>/dev/null) || ! gid=$(id -g "$app_user" 2>/dev/null); then
        say "gebruiker $app_user bestaat niet / user $app_user does not exist"
        exit 2
    fi
    if [ "$uid" = 0 ]; then
        say "$app_user is root; de bot draait niet als root / the bot does not run as root"
        exit 2
    fi
    for dir in "$data_dir" "$transcripts_dir" "$index_dir" "$state_dir"; do
        mkdir -p "$dir" 2>/dev/null || continue  # e.g. a read-only mount: reported below
        # Only what differs is changed, so a restart with a large index stays quick.
        if ! find "$dir" \( ! -user "$uid" -o ! -group "$gid" \) \
            -exec chown -h "$uid:$gid" {} + 2>/dev/null; then
            say "waarschuwing: eigenaar van $dir niet aangepast / warning: could not chown $dir to $uid:$gid"
        fi
    done
    home=$(getent passwd "$app_user" | cut -d: -f6) || home=
    HOME=${home:-/}
    USER=$app_user
    LOGNAME=$app_user
    export HOME USER LOGNAME
    exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- /bin/sh "$0" "$@"
fi

# Not root (any more): the index and state folders must be writable, down to every file
# in them (the state database, the index's CURRENT pointer).
uid=$(id -u)
gid=$(id -g)
fail() {
    say "$1 is niet schrijfbaar voor uid $uid (gid $gid) / is not writable for uid $uid (gid $gid)." \
        "Start de container als root (standaard): dan past dit script de eigenaar aan;" \
        "of geef de eigenaar van de map op de host mee: --user \"\$(id -u):\$(id -g)\"." \
        "Start the container as root (the default) so this script fixes the ownership," \
        "or run it as the owner of the host folder: --user \"\$(id -u):\$(id -g)\"."
    exit 2
}
for dir in "$index_dir" "$state_dir"; do
    mkdir -p "$dir" 2>/dev/null || fail "$dir"
    blocked=$(find "$dir" ! -writable -print -quit 2>/dev/null) || blocked=$dir
    [ -z "$blocked" ] || fail "$blocked"
done
if ! mkdir -p "$transcripts_dir" 2>/dev/null || [ ! -w "$transcripts_dir" ]; then
    say "waarschuwing: $transcripts_dir is niet schrijfbaar, uploads mislukken /" \
        "warning: $transcripts_dir is not writable, uploads will fail"
fi

exec "$@"
