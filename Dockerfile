# The pipeline image: every KFP component runs in it (base_image), so pods do not
# pip-install at start-up. PyPI's torch 2.13.0 wheel carries CUDA, so the same image
# trains on CPU workers (gloo) and GPU workers (NCCL).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY components ./components
COPY pipelines ./pipelines
COPY serving ./serving
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[pipeline,train]"

FROM python:3.11-slim
ARG GIT_COMMIT=unknown
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SLUICE_HOME=/var/lib/sluice \
    SLUICE_GIT_COMMIT=${GIT_COMMIT}
RUN groupadd --system --gid 1000 sluice \
    && useradd --system --uid 1000 --gid sluice --home-dir /var/lib/sluice --create-home sluice
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels "sluice[pipeline,train]==0.1.0" \
    && rm -rf /wheels
USER 1000:1000
WORKDIR /var/lib/sluice
