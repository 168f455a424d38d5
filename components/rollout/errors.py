"""The rollout's own error for a parameter that breaks its rule."""


class RolloutConfigError(ValueError):
    """A parameter breaks its rule; the message names both."""
