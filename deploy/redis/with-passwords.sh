#!/bin/sh
# Writes deploy/redis/users.acl with each user's password added (as its SHA-256),
# the form redis-server loads with --aclfile:
#
#   REDIS_API_PASSWORD=... REDIS_PROJECTOR_PASSWORD=... REDIS_OPERATOR_PASSWORD=... \
#       deploy/redis/with-passwords.sh deploy/redis/users.acl > /run/redis/users.acl
#
# Each REDIS_<ROLE>_PASSWORD may be given as REDIS_<ROLE>_PASSWORD_FILE instead
# (a mounted secret). A user with no password given stays unable to log in.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 users.acl > out.acl" >&2; exit 2; }

secret() {  # secret ROLE: the password of ROLE, or nothing
    name="REDIS_$(echo "$1" | tr '[:lower:]' '[:upper:]')_PASSWORD"
    eval "value=\${$name-}"
    eval "file=\${${name}_FILE-}"
    if [ -n "$value" ] && [ -n "$file" ]; then
        echo "$0: $name and ${name}_FILE are both set: set one" >&2
        exit 2
    fi
    if [ -n "$file" ]; then
        [ -r "$file" ] || { echo "$0: ${name}_FILE: cannot read $file" >&2; exit 2; }
        value=$(cat "$file")
    fi
    printf '%s' "$value"
}

while IFS= read -r line; do
    case $line in
        "user "*)
            role=$(echo "$line" | cut -d' ' -f2)
            password=$(secret "$role")
            if [ -n "$password" ]; then
                hash=$(printf '%s' "$password" | sha256sum | cut -d' ' -f1)
                line=$(echo "$line" | sed "s/^user $role /user $role #$hash /")
            fi
            printf '%s\n' "$line"
            ;;
        *) printf '%s\n' "$line" ;;
    esac
done < "$1"
