#!/usr/bin/env bash
# Build the fitsense-luigi image with podman on a host without Docker or a registry.
#
#   IMAGE=localhost/fitsense-luigi:latest BASE_IMAGE=... ops/build-image.sh
#
# 1. podman, runc and debootstrap are installed if missing (ops/podman-setup.sh);
# 2. a base image is chosen or built once (ops/base-image.sh) unless BASE_IMAGE is set;
# 3. wheels are built on the host into wheelhouse/ (pinned deps are kept between builds,
#    this package's wheel is rebuilt every time), so the image build needs no index;
# 4. podman builds with runc (crun fails on these hybrid-cgroup hosts) and no network at all.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/fitsense-luigi:latest}
PY=${PYTHON:-.venv/bin/python}

bash ops/podman-setup.sh
base=${BASE_IMAGE:-$(bash ops/base-image.sh)}

mkdir -p wheelhouse
if ! "$PY" -m pip wheel -qq --disable-pip-version-check --no-index --find-links wheelhouse \
        -w wheelhouse -r requirements.txt 2>/dev/null; then
    echo "build-image: fetching missing wheels for requirements.txt" >&2
    "$PY" -m pip wheel -qq --disable-pip-version-check --find-links wheelhouse -w wheelhouse -r requirements.txt
fi
rm -rf build wheelhouse/fitsense_luigi-*.whl
"$PY" -m pip wheel -qq --disable-pip-version-check --no-deps -w wheelhouse .
rm -rf build

echo "build-image: building $IMAGE from $base" >&2
podman build --runtime /usr/sbin/runc --network=none --build-arg BASE_IMAGE="$base" -t "$IMAGE" .
# every build leaves the previous wheels stage and image untagged: drop those (ours only)
for stage in fitsense-luigi.stage=wheels org.opencontainers.image.title=fitsense-luigi; do
    podman image prune --force --filter "label=$stage" >/dev/null  # dangling (untagged) only
done
