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
# keeps everything under it). DEPS: `project` resolves sluice with its extras; `extras`
# takes only the extras' own requirements (written to /wheels/requirements.txt) and sluice's
# wheel alone, for an image whose extra conflicts with the base dependencies (drift:
# numpy<2 against numpy>=2), which installs sluice with --no-deps as `make venv-drift` does.
ARG EXTRAS=serve
ARG PACKAGES="components pipelines serving"
ARG DEPS=project
RUN set -eu; \
    for path in components/*/ pipelines/ serving/; do \
      folder=${path%/}; \
      case " ${PACKAGES} " in *" ${folder} "*|*" ${folder%%/*} "*) ;; *) rm -rf "${folder}" ;; esac; \
    done; \
    case "${DEPS}" in \
      project) pip wheel --no-cache-dir --wheel-dir /wheels ".[${EXTRAS}]" ;; \
      extras) \
        mkdir -p /wheels; \
        python -c 'import sys, tomllib; extras = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]; print("\n".join(r for e in sys.argv[1].split(",") for r in extras[e]))' "${EXTRAS}" > /wheels/requirements.txt; \
        pip wheel --no-cache-dir --wheel-dir /wheels -r /wheels/requirements.txt; \
        pip wheel --no-cache-dir --wheel-dir /wheels --no-deps . ;; \
      *) echo "DEPS=${DEPS}: expected project or extras" >&2; exit 2 ;; \
    esac
