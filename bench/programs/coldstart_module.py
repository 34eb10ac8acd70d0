"""Cold start of the module's path: onnxruntime + padding skip, one score.

``python coldstart_module.py PACKAGED_DIR TEXT``; prints ``SCORE PEAK_RSS_KB`` after the first score.
"""

import resource
import sys
from pathlib import Path

from edgeship_sentiment.model import load_model_folder
from edgeship_sentiment.scorer import Scorer


def main() -> None:
    score = Scorer(load_model_folder(Path(sys.argv[1]))).score(sys.argv[2])["score"]
    print(score, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)


if __name__ == "__main__":
    main()
