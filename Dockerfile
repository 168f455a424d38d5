# The pipeline image: every KFP component runs in it (base_image), so pods do not
# pip-install at start-up. It trains on CPU (gloo) and on GPUs (NCCL) alike: PyPI's torch
# carries CUDA and NCCL (the node brings the driver), and one image must serve both, since
# KFP fixes a task's image when the pipeline compiles while `gpus` is a run parameter. Its
# wheels come from the shared build stage (infra/images/wheels.Dockerfile, named context
# `wheels`).
# hadolint ignore=DL3006
FROM wheels AS built

FROM python:3.11.11-slim-bookworm
ARG GIT_COMMIT=unknown
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SLUICE_HOME=/var/lib/sluice \
    SLUICE_GIT_COMMIT=${GIT_COMMIT} \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
RUN groupadd --system --gid 1000 sluice \
    && useradd --system --uid 1000 --gid sluice --home-dir /var/lib/sluice --create-home sluice
COPY --from=built /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels "sluice[pipeline,train]==0.1.0" \
    && rm -rf /wheels
USER 1000:1000
WORKDIR /var/lib/sluice
