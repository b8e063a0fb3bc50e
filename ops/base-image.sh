#!/usr/bin/env bash
# Print the base image to build FROM, making one when none is available.
#
# The Dockerfile's default is python:3.11-slim. With no registry reachable it
# cannot be pulled, so when it is not already in the local store this builds a
# stand-in once and reuses it: Debian (the host's release) from the host's own
# mirror with debootstrap, plus python3 and python3-venv. It is cached in the
# podman store under $LOCAL_BASE and rebuilt only when removed.
set -euo pipefail

UPSTREAM=${UPSTREAM_BASE:-docker.io/library/python:3.11-slim}
LOCAL_BASE=${LOCAL_BASE:-localhost/fitsense-python-base:3.11-bookworm}

if podman image exists "$UPSTREAM"; then echo "$UPSTREAM"; exit 0; fi
if podman image exists "$LOCAL_BASE"; then echo "$LOCAL_BASE"; exit 0; fi

suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
mirror=$(grep -h -m1 '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}' || true)
if [ -z "$mirror" ]; then
    mirror=$(grep -h -m1 '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

root=$(mktemp -d /var/tmp/fitsense-base.XXXXXX)
trap 'rm -rf "$root" "$root.log"' EXIT
echo "base-image: $UPSTREAM not in the local store; building $LOCAL_BASE from $mirror ($suite)" >&2
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,tzdata \
    "$suite" "$root" "$mirror" >"$root.log" 2>&1 || { tail -n 20 "$root.log" >&2; exit 1; }
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/usr/share/info/*
tar -C "$root" -c . | podman import --quiet --change 'CMD ["python3"]' - "$LOCAL_BASE" >/dev/null
echo "$LOCAL_BASE"
