"""Cold start of the seed's path: tf_keras load_model + the pickled tokenizer + one predict.

``python coldstart_keras.py FIXTURE_DIR TEXT``; prints ``SCORE PEAK_RSS_KB`` after the first score.
"""

import os
import pickle
import resource
import sys


def main() -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tf_keras
    from tf_keras.preprocessing.sequence import pad_sequences

    folder, text = sys.argv[1], sys.argv[2]
    model = tf_keras.models.load_model(folder + "/model.h5", compile=False)
    with open(folder + "/tokenizer.pkl", "rb") as handle:
        tokenizer = pickle.load(handle)  # the benchmark's own fixture, trusted here
    score = float(model.predict(pad_sequences(tokenizer.texts_to_sequences([text]), maxlen=300), verbose=0)[0][0])
    print(score, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)


if __name__ == "__main__":
    main()
