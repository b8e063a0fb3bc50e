# fitsense-luigi: the daily pipeline in one image.
#
# Build with `make image` (podman, wheels built on the host, no network inside
# the build). Run:   podman run --rm -v /srv/fitsense/data:/data IMAGE
# which builds today's run (UTC date) with the local scheduler and exits with
# luigi's [retcode] codes. Teacher settings and the key come from the
# environment at run time (FITSENSE__TEACHER__BASE_URL=..., and the variable
# teacher.api_key_env names, FITSENSE_TEACHER_API_KEY by default); no secret is
# ever baked into the image. `... IMAGE python -m fitsense_luigi.scheduler
# --address 0.0.0.0` runs the central scheduler (luigid) instead.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS wheels
LABEL fitsense-luigi.stage=wheels
# Only the pinned wheels from the host's wheelhouse: reproducible and offline.
COPY requirements.txt wheelhouse/ /wheelhouse/
RUN python3 -m venv /opt/fitsense \
    && /opt/fitsense/bin/pip install --quiet --no-index --no-cache-dir --disable-pip-version-check \
       --find-links /wheelhouse -r /wheelhouse/requirements.txt fitsense-luigi \
    && /opt/fitsense/bin/pip uninstall --quiet --yes pip

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="fitsense-luigi" \
      org.opencontainers.image.description="Luigi pipeline that builds distillation data for the FitSense coaching model"

ENV PATH=/opt/fitsense/bin:$PATH \
    VIRTUAL_ENV=/opt/fitsense \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    HOME=/home/fitsense \
    FITSENSE_DATA_ROOT=/data

RUN groupadd --gid 10001 fitsense \
    && useradd --uid 10001 --gid fitsense --home-dir /home/fitsense --create-home \
       --shell /usr/sbin/nologin fitsense \
    && mkdir -p /data /app \
    && chown fitsense:fitsense /data

COPY --from=wheels /opt/fitsense /opt/fitsense
# luigi reads luigi.cfg from the working directory: [retcode], retries, logging
COPY luigi.cfg /app/luigi.cfg
WORKDIR /app

# The installed wheel must carry its embedded config (fitsense_luigi/_config).
RUN python -c "from fitsense_luigi.config import load_config; load_config()" \
    && luigi --help >/dev/null

USER fitsense
VOLUME ["/data"]
EXPOSE 8082
CMD ["luigi", "--module", "fitsense_luigi", "BiasSlicing", "--local-scheduler"]
