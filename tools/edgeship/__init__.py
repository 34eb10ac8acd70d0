"""edgeship: ship a model trained anywhere to Azure IoT Edge devices.

The package is deliberately light at import time: the CLI, the registry and the manifest tools
import no TensorFlow and no onnxruntime until a command that needs them runs.
"""

__version__ = "0.1.0"

from edgeship.errors import EdgeshipError

__all__ = ["EdgeshipError", "__version__"]
