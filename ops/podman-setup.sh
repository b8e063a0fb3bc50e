#!/usr/bin/env bash
# Make podman usable on these hosts: no Docker engine, hybrid cgroups, no registry.
# Idempotent: installs only what is missing and never overwrites an existing containers.conf.
set -euo pipefail

need=()
command -v podman >/dev/null || need+=(podman)
[ -x /usr/sbin/runc ] || need+=(runc)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
    echo "podman-setup: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

# runc cannot set RLIMIT_NOFILE here; an empty default_ulimits makes podman stop asking it to.
conf=/etc/containers/containers.conf
if [ ! -e "$conf" ]; then
    mkdir -p "$(dirname "$conf")"
    printf '[containers]\ndefault_ulimits = []\n' >"$conf"
    echo "podman-setup: wrote $conf" >&2
elif ! grep -q '^[[:space:]]*default_ulimits' "$conf"; then
    echo "podman-setup: warning: $conf has no default_ulimits; add 'default_ulimits = []' under [containers]" >&2
fi
