"""The train step's configuration error, shared by its parameters and its search space."""


class TrainingConfigError(ValueError):
    """Training parameters that cannot work together; raised before anything starts."""
