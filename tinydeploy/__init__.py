"""tinydeploy: from a model to measured results on a microcontroller, offline, in one command."""

from tinydeploy.errors import TinyDeployError

__version__ = "0.1.0"
__all__ = ["TinyDeployError", "__version__"]
