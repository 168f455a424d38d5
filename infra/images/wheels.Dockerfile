# The build stage every sluice image shares, defined once: the wheels of sluice and of its
# dependencies for one set of extras, built from the packages the image carries and no
# others. infra/images/build.sh (`make images`) builds it per image and hands it to the
# image's Dockerfile as the named build context `wheels`.
FROM python:3.11.11-slim-bookworm AS wheels
WORKDIR /src
COPY pyproject.toml README.md ./
COPY components ./components
COPY pipelines ./pipelines
COPY serving ./serving
# EXTRAS: the image's extras; PACKAGES: the source folders it carries (a top-level folder
# keeps everything under it).
ARG EXTRAS=serve
ARG PACKAGES="components pipelines serving"
RUN set -eu; \
    for path in components/*/ pipelines/ serving/; do \
      folder=${path%/}; \
      case " ${PACKAGES} " in *" ${folder} "*|*" ${folder%%/*} "*) ;; *) rm -rf "${folder}" ;; esac; \
    done; \
    pip wheel --no-cache-dir --wheel-dir /wheels ".[${EXTRAS}]"
