"""Scoring records with a classifier bundle: the result each record gets from `classify`/`batch`.

Two halves, so `batch` can run the first in worker processes:
- `prepare_record` (no torch): read -> quality flags -> measurements -> model windows + lead mask;
- `Scorer.score` (torch, main process): encoder + heads over many records' windows in batches,
  probabilities averaged over each record's windows, then findings at the bundle's thresholds.

The result layout is documented in docs/output-schema.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecglm_cli.errors import ECGLMError, RecordError
from ecglm_cli.io import read_record
from ecglm_cli.io.leads import STANDARD_LEADS
from ecglm_cli.pipeline.prepare import to_model_windows
from ecglm_cli.signal.quality import quality_flags

DEFAULT_SPACES: tuple[str, ...] = ("superdiagnostic", "diagnostic", "form", "rhythm")
RECORD_SUFFIXES = (".hea", ".dat", ".mat", ".edf", ".bdf", ".npy", ".npz", ".csv")


@dataclass(frozen=True)
class InputSpec:
    """The model's input geometry (rate, window, hop), picklable without importing torch."""

    fs: float
    window: int
    stride: int


@dataclass(frozen=True)
class ReadOptions:
    """How to read and which leads to give the model; travels to worker processes."""

    fs: float | None = None  # rate of bare arrays without a sidecar
    input_leads: tuple[str, ...] | None = None  # lead names of bare arrays without a sidecar
    leads: tuple[str, ...] | None = None  # leads the model may use (`--leads`); None: all
    measurements: bool = True


@dataclass
class PreparedRecord:
    """One record ready for the model, plus what the result reports besides probabilities."""

    id: str
    path: str
    windows: np.ndarray  # [W, 12, T] float32
    mask: np.ndarray  # [12] bool, the leads the model sees
    details: dict[str, Any] = field(default_factory=dict)


def record_id(path: str | Path) -> str:
    """A record's id: its path as given, without the record suffix (`00000/00001_lr`)."""
    p = Path(path)
    text = p.as_posix()
    if p.suffix.lower() in RECORD_SUFFIXES:
        text = text[: -len(p.suffix)]
    return text


def file_id(path: str | Path) -> str:
    """The id `classify` reports for a record given on the command line: its file name without
    the record suffix (`batch` keeps the path below its folder instead)."""
    return record_id(Path(path).name)


def prepare_record(path: str, rid: str, spec: InputSpec, options: ReadOptions) -> PreparedRecord:
    """Read one record and turn it into model windows; raises `RecordError` naming the file,
    whatever went wrong (inputs are hostile: no other exception escapes)."""
    try:
        return _prepare(path, rid, spec, options)
    except RecordError:
        raise
    except ECGLMError as exc:
        raise RecordError(path, str(exc)) from None
    except Exception as exc:
        raise RecordError(path, f"cannot score ({type(exc).__name__}: {exc})") from None


def _prepare(path: str, rid: str, spec: InputSpec, options: ReadOptions) -> PreparedRecord:
    record = read_record(path, fs=options.fs, leads=_list(options.input_leads))
    quality = quality_flags(record)
    windows, mask, covered = to_model_windows(record, spec, _list(options.leads), quality)
    details: dict[str, Any] = {
        "fs": float(record.fs),
        "duration_s": round(record.duration, 3),
        "windows": len(windows),
        "coverage": round(covered, 3),
        "leads_used": [lead for lead, used in zip(STANDARD_LEADS, mask, strict=True) if used],
        "quality": quality,
    }
    if options.measurements:
        from ecglm_cli.features import measure

        details["measurements"] = measure(record)
        _no_heartbeat(quality, details["measurements"])
    return PreparedRecord(rid, str(path), windows, mask, details)


def _no_heartbeat(quality: dict[str, Any], measurements: dict[str, Any]) -> None:
    """`quality.ok` false, with a note, when the measurements find no heartbeat: a 1 Hz sine on
    every lead was scored sinus rhythm 0.68 with `ok` true. (No PTB-XL record of folds 1-9 is
    noted, at either rate.)"""
    beats = measurements.get("beats") or {}
    if beats.get("value") is None and "QRS" in str(beats.get("reason")):
        quality["ok"] = False
        quality["note"] = (f"the measurements find no heartbeat ({beats['reason']}): the "
                           "findings may not describe an ECG")


def _list(values: tuple[str, ...] | None) -> list[str] | None:
    return list(values) if values is not None else None


def load_classifier(model: str) -> Any:
    """The bundle `--model` names: a folder, the built-in `ecglm-base`, or a downloaded one."""
    from ecglm_cli.cache import resolve
    from ecglm_cli.models.bundle import load_bundle

    return load_bundle(resolve(model, kind="ecg-bundle"))


class Scorer:
    """Runs the bundle's classifier on prepared records and builds their results."""

    def __init__(
        self,
        bundle: Any,
        spaces: Iterable[str] | None = None,
        threshold: float | None = None,
        top_k: int | None = None,
        batch_size: int = 64,
    ):
        self.bundle = bundle
        available = list(bundle.label_spaces)
        self.spaces = list(spaces) if spaces else [s for s in DEFAULT_SPACES if s in available]
        unknown = [s for s in self.spaces if s not in available]
        if unknown:
            raise ECGLMError(
                f"label space {', '.join(unknown)} is not in model {bundle.path.name} "
                f"(it has {', '.join(available)})"
            )
        self.threshold = threshold
        self.top_k = top_k
        self.batch_size = batch_size
        self.spec = input_spec(bundle.config)

    @property
    def model_name(self) -> str:
        """What each row records as its `model`: the bundle's folder name."""
        return self.bundle.path.name

    def columns(self) -> list[str]:
        """CSV columns: identity, model, error, leads, quality, then `space.code` per statement."""
        probs = [f"{s}.{code}" for s in self.spaces for code in self.bundle.labels(s)]
        return [*CSV_HEAD, *probs]

    def score(self, records: list[PreparedRecord]) -> list[dict[str, Any]]:
        """Results for `records`, in the same order (windows of all records batched together)."""
        from ecglm_cli.models.predict import predict_windows

        if not records:
            return []
        probs = predict_windows(
            self.bundle.model, [(r.windows, r.mask) for r in records], batch_size=self.batch_size
        )
        return [
            self._result(r, {s: probs[s][i] for s in self.spaces}) for i, r in enumerate(records)
        ]

    def _result(self, record: PreparedRecord, probs: dict[str, np.ndarray]) -> dict[str, Any]:
        findings: dict[str, list[dict[str, Any]]] = {}
        probabilities: dict[str, dict[str, float]] = {}
        for space in self.spaces:
            info = self.bundle.label_spaces[space]
            labels, descriptions = info["labels"], info.get("descriptions", {})
            thresholds = self.bundle.thresholds[space]
            p = probs[space]
            probabilities[space] = {
                code: round(float(v), 4) for code, v in zip(labels, p, strict=True)
            }
            listed = []
            for i in np.argsort(-p, kind="stable"):
                cut = float(self.threshold if self.threshold is not None else thresholds[i])
                positive = bool(p[i] >= cut)
                if self.top_k is None and not positive:
                    continue
                listed.append({
                    "code": labels[i],
                    "description": descriptions.get(labels[i], labels[i]),
                    "probability": round(float(p[i]), 4),
                    "threshold": round(cut, 4),
                    "positive": positive,
                })
            findings[space] = listed[: self.top_k] if self.top_k is not None else listed
        return {
            "id": record.id,
            "path": record.path,
            "model": self.model_name,
            **{k: v for k, v in record.details.items() if k != "measurements"},
            "findings": findings,
            "probabilities": probabilities,
            **({"measurements": record.details["measurements"]}
               if "measurements" in record.details else {}),
        }


CSV_HEAD = ("id", "path", "model", "error", "leads_used", "quality_ok")


def csv_row(result: dict[str, Any]) -> dict[str, Any]:
    """One flat CSV row for a result or an error row (`{id, path, error}`)."""
    row = {key: result.get(key) for key in ("id", "path", "model", "error")}
    if "probabilities" in result:
        row["leads_used"] = " ".join(result["leads_used"])
        row["quality_ok"] = result["quality"]["ok"]
        for space, probs in result["probabilities"].items():
            row.update({f"{space}.{code}": p for code, p in probs.items()})
    return row


def input_spec(config: Any) -> InputSpec:
    return InputSpec(fs=float(config.fs), window=int(config.window), stride=int(config.stride))


def classify_paths(
    paths: Iterable[str], scorer: Scorer, options: ReadOptions
) -> Iterator[dict[str, Any] | RecordError]:
    """Results for each path in order, scored `scorer.batch_size` records at a time; a record
    that cannot be read yields its `RecordError` in its place instead of stopping the others."""
    pending: list[PreparedRecord | RecordError] = []

    def flush() -> Iterator[dict[str, Any] | RecordError]:
        scored = iter(scorer.score([p for p in pending if isinstance(p, PreparedRecord)]))
        for item in pending:
            yield item if isinstance(item, RecordError) else next(scored)
        pending.clear()

    for path in paths:
        try:
            pending.append(prepare_record(path, file_id(path), scorer.spec, options))
        except RecordError as exc:
            pending.append(exc)
        if len(pending) >= scorer.batch_size:
            yield from flush()
    yield from flush()
