"""The one place a model bundle is written and read.

A bundle is a directory: `config.json` (format version, architecture, input rate and window,
lead vocabulary, label spaces with statements and descriptions), `model.safetensors` (float16
weights, no pickles), `thresholds.json`, `metrics.json` and `provenance.json`.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecglm_cli.errors import ModelError
from ecglm_cli.io.leads import STANDARD_LEADS
from ecglm_cli.models.encoder import ECGClassifier, EncoderConfig
from ecglm_cli.models.weights import check_readable, first_not_finite

FORMAT_VERSION = 1
BUNDLE_KIND = "ecglm-encoder"
DEFAULT_BUNDLE = "ecglm-base"
WEIGHTS = "model.safetensors"
STORED_DTYPE = torch.float16  # half the size of float32; training checks the weights fit it


@dataclass
class Bundle:
    """A loaded bundle: the classifier in eval mode plus everything needed to read its output."""

    path: Path
    config: EncoderConfig
    model: ECGClassifier
    label_spaces: dict[str, dict[str, Any]]  # space -> {"labels": [...], "descriptions": {...}}
    thresholds: dict[str, np.ndarray]
    metrics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def encoder(self):
        return self.model.encoder

    def labels(self, space: str) -> list[str]:
        return list(self.label_spaces[space]["labels"])

    def language_model(self, llm: str | None = None):
        """The ECG language model stored with this bundle (projector + LM), see models/ecglm.py.

        `llm` names the LM to use; it must be the one the projector was trained for.
        """
        from ecglm_cli.models.ecglm import load_lm_parts

        return load_lm_parts(self.path, llm, bundle=self)


def resolve_bundle_dir(name: str | os.PathLike) -> Path:
    """A bundle directory for a path, the built-in `ecglm-base`, or a downloaded bundle name."""
    from ecglm_cli.cache import resolve

    path = resolve(name, kind="ecg-bundle")
    if not path.is_dir():
        raise ModelError(f"{path}: a model bundle is a directory, not a file")
    return path


def write_text_atomically(path: Path, text: str) -> None:
    """Replace `path` by `text` whole: a reader never sees half of it."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    """Write one bundle file atomically."""
    from ecglm_cli.output import json_safe

    # NaN (an AUC with no positives) is not JSON: strict readers (jq, JavaScript) refused it
    write_text_atomically(path, json.dumps(json_safe(data), indent=2, ensure_ascii=False) + "\n")


def bundle_config(config: EncoderConfig, label_spaces: dict[str, dict[str, Any]]) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "kind": BUNDLE_KIND,
        "architecture": config.to_dict(),
        "input": {
            "fs": config.fs, "window_samples": config.window, "stride_samples": config.stride,
            "units": "mV", "baseline": "per-lead median removed", "clip_mv": 10.0,
        },
        "lead_vocabulary": list(STANDARD_LEADS),
        "label_spaces": label_spaces,
    }


def save_bundle(
    out_dir: str | os.PathLike,
    model: ECGClassifier,
    label_spaces: dict[str, dict[str, Any]],
    thresholds: dict[str, list[float]],
    metrics: dict[str, Any],
    provenance: dict[str, Any],
) -> Path:
    """Write a complete bundle (weights as `STORED_DTYPE`, files replaced atomically)."""
    from ecglm_cli.models.weights import save_weights

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.detach().to("cpu", STORED_DTYPE) if v.is_floating_point() else v.detach().cpu())
        .contiguous()
        for k, v in model.state_dict().items()
    }
    tmp = out / (WEIGHTS + ".tmp")
    save_weights(state, tmp, metadata={"format_version": str(FORMAT_VERSION)})
    os.replace(tmp, out / WEIGHTS)
    write_json(out / "config.json", bundle_config(model.config, label_spaces))
    write_json(out / "thresholds.json", thresholds)
    write_json(out / "metrics.json", metrics)
    write_json(out / "provenance.json", provenance)
    return out


def _read_json(path: Path, required: bool = True) -> Any:
    if not path.exists():
        if required:
            raise ModelError(f"{path.parent}: not a model bundle (no {path.name})")
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelError(f"{path}: unreadable ({str(exc) or type(exc).__name__})") from None


def _check_config(path: Path, raw: Any) -> tuple[EncoderConfig, dict[str, dict[str, Any]]]:
    if not isinstance(raw, dict):
        raise ModelError(f"{path}: config.json is not an object")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(
            f"{path}: bundle format version {version!r}, this ecglm reads version {FORMAT_VERSION}"
        )
    try:
        config = EncoderConfig.from_dict(raw["architecture"])
        spaces = raw["label_spaces"]
        for space, info in spaces.items():
            n = len(info["labels"])
            if config.label_counts.get(space) != n:
                raise ValueError(
                    f"label space {space!r} lists {n} labels but the architecture has "
                    f"{config.label_counts.get(space)} outputs"
                )
        if set(spaces) != set(config.label_counts):
            raise ValueError("label spaces do not match the architecture's heads")
        if list(raw.get("lead_vocabulary", STANDARD_LEADS)) != list(STANDARD_LEADS):
            raise ValueError("lead vocabulary differs from the 12 standard leads")
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: bad config.json: {exc}") from None
    return config, spaces


def _load_weights(path: Path, config: EncoderConfig) -> ECGClassifier:
    """The encoder with its weights, from one opening of the weights file. The file must hold
    exactly the tensors config.json implies, checked on a meta-device model against the
    safetensors header before any memory is spent on either."""
    from safetensors import SafetensorError, safe_open

    weights = path / WEIGHTS
    if not weights.exists():
        raise ModelError(f"{path}: not a model bundle (no {WEIGHTS})")
    check_readable(weights)
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in ECGClassifier(config).state_dict().items()}
    try:
        with safe_open(str(weights), framework="pt") as handle:
            found = {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}
            _check_shapes(weights, expected, found)
            model = ECGClassifier(config)
            dtypes = {k: v.dtype for k, v in model.state_dict().items()}
            model.load_state_dict({k: handle.get_tensor(k).to(dtypes[k]) for k in expected})
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{weights}: truncated or corrupt weights ({exc})") from None
    bad = first_not_finite(model.state_dict().items())
    if bad:
        raise ModelError(f"{weights}: tensor {bad} holds values that are not numbers")
    return model


def _check_shapes(weights: Path, expected: dict[str, tuple], found: dict[str, tuple]) -> None:
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        raise ModelError(
            f"{weights}: weights do not match config.json "
            f"(missing {missing[:3]}, unexpected {extra[:3]})"
        )
    for key, shape in expected.items():
        if found[key] != shape:
            raise ModelError(f"{weights}: tensor {key} has shape {list(found[key])}, "
                             f"config.json implies {list(shape)}")


def load_bundle(name_or_path: str | os.PathLike = DEFAULT_BUNDLE) -> Bundle:
    """Load and verify a bundle; any problem is a one-line `ModelError`."""
    path = resolve_bundle_dir(name_or_path)
    if not path.is_dir():
        raise ModelError(f"model bundle {name_or_path} is not installed at {path}")
    config, spaces = _check_config(path, _read_json(path / "config.json"))
    model = _load_weights(path, config)
    model.eval()
    raw_thresholds = _read_json(path / "thresholds.json")
    thresholds = {}
    for space, info in spaces.items():
        values = raw_thresholds.get(space) if isinstance(raw_thresholds, dict) else None
        if not isinstance(values, list) or len(values) != len(info["labels"]):
            raise ModelError(f"{path}: thresholds.json does not match label space {space!r}")
        thresholds[space] = np.asarray(values, dtype=np.float32)
    return Bundle(
        path=path, config=config, model=model, label_spaces=spaces, thresholds=thresholds,
        metrics=_read_json(path / "metrics.json", required=False),
        provenance=_read_json(path / "provenance.json", required=False),
    )


def copy_bundle(source: Path, out: Path) -> Path:
    """Copy the bundle at `source` into `out` (its files, compact LM and LoRA adapter; no
    checkpoints), keeping what `out` already holds, so a run can leave the original alone.

    What `out` keeps must belong to `source`: an `out` holding another encoder's weights is
    refused, since keeping them mixed two bundles (`train thresholds` wrote A's cuts beside
    B's weights; `train align` trained on B's encoder and recorded A as its source).

    Each file and folder is copied under a temporary name and then renamed, so an interrupted
    copy leaves either the whole item or none of it (a rerun would keep a half-copied `lm/`)."""
    from ecglm_cli.models.ecglm import BUNDLED_LM_DIR
    from ecglm_cli.models.lora import LORA_DIR
    from ecglm_cli.train.output_dir import OutputError

    if out.resolve() != source.resolve():
        weights = out / WEIGHTS
        if weights.exists() and not filecmp.cmp(weights, source / WEIGHTS, shallow=False):
            raise OutputError(f"{out}: holds another model bundle (its {WEIGHTS} is not "
                              f"{source}'s); pass --out a new folder")
        out.mkdir(parents=True, exist_ok=True)
        for item in source.iterdir():
            target = out / item.name
            if target.exists() or not (item.is_file() or item.name in (BUNDLED_LM_DIR, LORA_DIR)):
                continue
            partial = out / f".{item.name}.partial"
            if partial.is_dir():
                shutil.rmtree(partial)  # what a killed run left
            if item.is_file():
                shutil.copy2(item, partial)
            else:  # its compact LM or LoRA adapter
                shutil.copytree(item, partial)
            partial.replace(target)
    return out
