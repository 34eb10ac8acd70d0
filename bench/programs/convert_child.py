"""One conversion of a Keras .h5 to ONNX, in its own process so its peak memory is its own.

``python convert_child.py MODEL_H5 direct|tf2onnx OUT_ONNX``; prints ``{"seconds", "peak_rss_mb"}``.
"""

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any


def main() -> None:
    started = time.perf_counter()
    h5 = Path(sys.argv[1])
    converter = sys.argv[2]
    model: Any
    if converter == "direct":
        from edgeship.packager.direct import convert_direct
        from edgeship.packager.keras_h5 import read_keras_h5

        model = convert_direct(read_keras_h5(h5)).model
    else:
        from edgeship.packager.tf2onnx_converter import convert_tf2onnx

        model = convert_tf2onnx(h5).model
    import onnx

    onnx.save_model(model, sys.argv[3])
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - started,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


if __name__ == "__main__":
    main()
