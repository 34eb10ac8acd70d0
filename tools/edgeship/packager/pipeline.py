"""``edgeship package``: a registered Keras model -> an edge model folder, behind the parity gate.

Writes ``model.onnx``, ``tokenizer.json`` and ``model.json`` (contract: ``modules/sentiment/README.md``).
Everything is built in a temporary folder beside the output and moved into place only when the
gate passes, so a failed run leaves the previous model folder untouched.
"""

from __future__ import annotations

import hashlib
import json
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import numpy as np
import numpy.typing as npt

from edgeship._time import utc_timestamp
from edgeship.errors import PackagingError
from edgeship.jsontypes import JSONObject
from edgeship.packager.heldout import HeldoutSet, probe_set, read_heldout
from edgeship.packager.keras_h5 import read_keras_h5
from edgeship.packager.parity import (
    Labelling,
    ParityReport,
    compare,
    enforce,
    keras_reference_scores,
    onnx_scores,
    padskip_scores,
)
from edgeship.packager.safe_pickle import load_label_classes, load_tokenizer_state
from edgeship_sentiment.model_spec import ModelSpec
from edgeship_sentiment.padskip import PaddingSkip, StateNames
from edgeship_sentiment.tokenizer import KerasTokenizer, pad_sequences

if TYPE_CHECKING:
    import onnxruntime as ort

Converter = Literal["auto", "direct", "tf2onnx"]
REQUIRED_FILES = ("model.h5", "tokenizer.pkl", "encoder.pkl")
PARITY_SAMPLE_SIZE = 32  # texts kept in model.json for the device's own check of a downloaded model
PARITY_SAMPLE_MAX_DIFF = 1e-4


@dataclass(frozen=True)
class PackageOptions:
    converter: Converter = "auto"
    quantize: Literal["int8"] | None = None
    heldout: Path | None = None
    thresholds: tuple[float, float] = (0.4, 0.7)


@dataclass(frozen=True)
class ModelSource:
    """Where the model's files are, and which registered model they are."""

    files: Mapping[str, Path]
    name: str
    version: int | None
    sha256: str

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}" if self.version is not None else self.name


class LstmGraph(TypedDict):
    """The direct graph's recurrent cell as model.json and the padding skip name it."""

    cell: str
    hidden_size: int
    initial_h: str
    initial_c: str | None
    final_h: str
    final_c: str | None


@dataclass
class PackageResult:
    out_dir: Path
    converter: str
    quantization: str | None
    parity: list[ParityReport]
    sizes: dict[str, int]
    conversion_seconds: float
    peak_rss_mb: float
    model_json: JSONObject = field(default_factory=dict)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tokenizer_from_state(state: Mapping[str, Any]) -> KerasTokenizer:
    return KerasTokenizer(
        word_index=dict(state["word_index"]),
        filters=str(state.get("filters", "")),
        lower=bool(state.get("lower", True)),
        split=str(state.get("split", " ")),
        char_level=bool(state.get("char_level", False)),
        num_words=state.get("num_words"),
        oov_token=state.get("oov_token"),
    )


def _direct_supported(h5: Path) -> bool:
    from edgeship.errors import UnsupportedModelError
    from edgeship.packager.direct import convert_direct

    try:
        convert_direct(read_keras_h5(h5))
    except UnsupportedModelError:
        return False
    return True


def _padskip_scores(
    session: ort.InferenceSession,
    lstm: LstmGraph,
    heldout: HeldoutSet,
    tokenizer: KerasTokenizer,
    *,
    input_name: str,
    output_name: str,
    sequence_length: int,
) -> npt.NDArray[np.float32]:
    """What the module runs on a direct graph: each text over its real tokens only (``padskip.py``)."""
    names = StateNames(lstm["initial_h"], lstm["final_h"], lstm["initial_c"], lstm["final_c"])
    skip = PaddingSkip.build(
        session,
        names,
        input_name=input_name,
        input_dtype=np.dtype(np.int64),
        sequence_length=sequence_length,
        truncating="pre",
        pad_value=0,
        hidden_size=int(lstm["hidden_size"]),
    )
    return padskip_scores(session, skip, output_name, tokenizer.texts_to_sequences(heldout.texts))


def parity_sample(folder: Path, texts: tuple[str, ...]) -> JSONObject:
    """Texts and the scores the module's own scoring path gives them, for a device to check a download.

    Scored by ``edgeship_sentiment``'s engine on the finished folder, in one call, exactly as the
    module checks a new model before it swaps; ``max_abs_diff`` allows for another CPU's rounding.
    """
    from edgeship_sentiment.model import load_model_folder
    from edgeship_sentiment.scorer import Engine

    engine = Engine.load(load_model_folder(folder))
    scores = engine.raw_scores(list(texts))
    return {
        "texts": list(texts),
        "scores": [round(float(s), 7) for s in scores],
        "max_abs_diff": PARITY_SAMPLE_MAX_DIFF,
    }


def package_model(
    source: ModelSource, out_dir: Path, options: PackageOptions, step: Callable[[str], None] = lambda _: None
) -> PackageResult:
    missing = [name for name in REQUIRED_FILES if name not in source.files]
    if missing:
        raise PackagingError(f"{source.ref} lacks {', '.join(missing)} (has {', '.join(sorted(source.files))})")
    h5 = source.files["model.h5"]

    step("reading tokenizer.pkl and encoder.pkl (restricted unpickler)")
    tokenizer_state = load_tokenizer_state(source.files["tokenizer.pkl"])
    classes = load_label_classes(source.files["encoder.pkl"])
    tokenizer = _tokenizer_from_state(tokenizer_state)
    if len(classes) != 2:
        raise PackagingError(f"encoder.pkl has {len(classes)} classes {classes}; a binary sentiment model needs 2")
    labelling = Labelling(options.thresholds, negative=classes[0], positive=classes[1])

    if options.heldout is not None:
        heldout = read_heldout(options.heldout)
    elif "heldout.jsonl" in source.files:
        heldout = read_heldout(source.files["heldout.jsonl"])
    else:
        heldout = probe_set()

    step("reading model.h5")
    keras_model = read_keras_h5(h5)
    converter = options.converter
    if converter == "auto":
        converter = "direct" if _direct_supported(h5) else "tf2onnx"

    step(f"converting with {converter}")
    started = time.perf_counter()
    import onnx

    versions: dict[str, str] = {"onnx": onnx.__version__, "keras_h5": keras_model.keras_version}
    lstm: LstmGraph | None = None
    if converter == "direct":
        from edgeship.packager.direct import (
            FINAL_C,
            FINAL_H,
            INITIAL_C,
            INITIAL_H,
            INPUT_NAME,
            OUTPUT_NAME,
            convert_direct,
        )

        graph = convert_direct(keras_model)
        onnx_model, input_name, input_dtype, output_name = graph.model, INPUT_NAME, "int64", OUTPUT_NAME
        sequence_length = graph.sequence_length
        is_lstm = graph.cell == "LSTM"
        lstm = {
            "cell": graph.cell,
            "hidden_size": graph.hidden_size,
            "initial_h": INITIAL_H,
            "initial_c": INITIAL_C if is_lstm else None,
            "final_h": FINAL_H,
            "final_c": FINAL_C if is_lstm else None,
        }
    else:
        from edgeship.packager.tf2onnx_converter import convert_tf2onnx

        converted = convert_tf2onnx(h5)
        onnx_model, input_name, input_dtype = converted.model, converted.input_name, converted.input_dtype
        output_name, sequence_length = converted.output_name, converted.sequence_length
        versions.update(converted.versions)
    conversion_seconds = time.perf_counter() - started
    if not sequence_length:
        raise PackagingError("the model has no fixed input length; the seed's scoring needs one (maxlen)")

    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".package-", dir=out_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the module (maybe another user) must read it
    try:
        fp32_path = staging / "model.onnx"
        onnx.save_model(onnx_model, fp32_path)

        step(f"parity gate on {len(heldout.texts)} texts ({heldout.source})")
        import onnxruntime as ort

        ids = pad_sequences(tokenizer.texts_to_sequences(heldout.texts), sequence_length)
        reference = keras_reference_scores(h5, tokenizer_state, heldout.texts, sequence_length)
        options_ort = ort.SessionOptions()
        options_ort.log_severity_level = 3
        fp32_session = ort.InferenceSession(str(fp32_path), options_ort, providers=["CPUExecutionProvider"])
        final_session = fp32_session
        final_scores = onnx_scores(fp32_session, input_name, input_dtype, ids)
        reports = [compare("fp32", heldout, reference, final_scores, labelling)]
        enforce(reports[0])
        sizes = {"model.h5": h5.stat().st_size, "onnx_fp32": fp32_path.stat().st_size}
        int8_path = staging / "model.int8.onnx"
        if options.quantize == "int8":
            step("quantizing to int8 (dynamic)")
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(fp32_path, int8_path, weight_type=QuantType.QInt8)
            final_session = ort.InferenceSession(str(int8_path), options_ort, providers=["CPUExecutionProvider"])
            final_scores = onnx_scores(final_session, input_name, input_dtype, ids)
            sizes["onnx_int8"] = int8_path.stat().st_size
        # The gate judges what the device runs: the padding skip on direct graphs.
        device_scores = final_scores
        if lstm is not None:
            step("checking the padding skip against the full sequence")
            device_scores = _padskip_scores(
                final_session,
                lstm,
                heldout,
                tokenizer,
                input_name=input_name,
                output_name=output_name,
                sequence_length=sequence_length,
            )
        if options.quantize == "int8":
            reports.append(compare("int8", heldout, reference, device_scores, labelling))
            enforce(reports[-1])
        if lstm is not None:
            # fp32: the skip is exact, so the strict bounds; int8: onnxruntime quantizes the LSTM's
            # inputs per call over the whole tensor, so the full sequence's pad steps shift the
            # scale and the two differ by quantization noise; int8 bounds then.
            reports.append(
                compare("padskip", heldout, final_scores, device_scores, labelling, strict=options.quantize is None)
            )
            enforce(reports[-1])
        if options.quantize == "int8":
            fp32_path.unlink()
            int8_path.rename(fp32_path)

        (staging / "tokenizer.json").write_text(
            json.dumps(tokenizer.to_json_dict(), ensure_ascii=False) + "\n", encoding="utf-8"
        )
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
        versions["numpy"] = np.__version__
        spec = ModelSpec(
            name=source.name,
            version=source.version,
            source=source.ref,
            source_sha256=source.sha256,
            onnx_file="model.onnx",
            onnx_sha256=_sha256(fp32_path),
            tokenizer_file="tokenizer.json",
            sequence_length=sequence_length,
            padding="pre",
            truncating="pre",
            pad_value=0,
            input_name=input_name,
            input_dtype=input_dtype,
            output_name=output_name,
            negative_label=labelling.negative,
            neutral_label=labelling.neutral,
            positive_label=labelling.positive,
            encoder_classes=tuple(classes),
            thresholds=options.thresholds,
            include_neutral=True,
            lstm_cell=lstm["cell"] if lstm else None,
            lstm_hidden_size=lstm["hidden_size"] if lstm else None,
            initial_h=lstm["initial_h"] if lstm else None,
            initial_c=lstm["initial_c"] if lstm else None,
            final_h=lstm["final_h"] if lstm else None,
            final_c=lstm["final_c"] if lstm else None,
            converter=converter,
            converter_versions=versions,
            converter_seconds=round(conversion_seconds, 3),
            quantization=options.quantize,
            parity={report.variant: report.to_json() for report in reports},
            sizes=sizes,
            created_at=utc_timestamp(),
        )
        # Written twice: the sample is scored by the module's own loader, which reads this file.
        spec.write(staging / "model.json")
        step(f"scoring the parity sample ({min(PARITY_SAMPLE_SIZE, len(heldout.texts))} texts) as the module will")
        spec = replace(spec, parity_sample=parity_sample(staging, heldout.texts[:PARITY_SAMPLE_SIZE]))
        spec.write(staging / "model.json")

        if out_dir.exists():
            previous = out_dir.with_name(out_dir.name + ".previous")
            shutil.rmtree(previous, ignore_errors=True)
            out_dir.rename(previous)
            staging.rename(out_dir)
            shutil.rmtree(previous, ignore_errors=True)
        else:
            staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PackageResult(
        out_dir, converter, options.quantize, reports, sizes, conversion_seconds, peak_rss_mb, spec.to_json()
    )
