"""What a pipeline task gets on a cluster besides its artifacts: its settings from the
`sluice-config` ConfigMap and its credentials from Secrets, as environment variables.

The ConfigMap is required: a task without it would fall back to its pod's empty local
home and write to a throwaway registry, so it had better not start. The Secrets are
optional (a tracking server without auth has none); what they hold never appears in the
compiled YAML, which names only the Secret and its keys."""

from __future__ import annotations

from kfp import kubernetes
from kfp.dsl import PipelineTask

from components.base.settings import CONFIG_KEYS, SECRET_KEYS, Settings


def configure(task: PipelineTask, settings: Settings) -> PipelineTask:
    kubernetes.use_config_map_as_env(task, settings.config_map, {k: k for k in CONFIG_KEYS})
    for setting, keys in SECRET_KEYS.items():
        kubernetes.use_secret_as_env(
            task, getattr(settings, setting), {k: k for k in keys}, optional=True
        )
    return task
