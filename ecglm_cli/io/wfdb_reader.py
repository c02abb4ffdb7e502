"""WFDB records (.hea + signal files), through wfdb-python."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecglm_cli.errors import RecordError
from ecglm_cli.io.channels import select_ecg_channels
from ecglm_cli.io.record import ECGRecord

_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "v": 1e3, "nv": 1e-6}


def unit_scale(unit: str | None) -> float | None:
    """Factor that turns a physical unit into millivolts; None when it is not a voltage."""
    key = (unit or "mV").strip().lower().replace("micro", "u")
    return _TO_MV.get(key)


def read_wfdb(path: Path) -> ECGRecord:
    import wfdb

    base = path.with_suffix("") if path.suffix in (".hea", ".dat", ".mat") else path
    try:
        header = wfdb.rdheader(str(base))
        # smooth_frames=False keeps multi-frequency signals at their own rates
        rec = wfdb.rdrecord(str(base), physical=True, smooth_frames=True)
    except FileNotFoundError as exc:
        missing = Path(exc.filename).name if getattr(exc, "filename", None) else "a signal file"
        raise RecordError(path, f"missing file {missing}") from None
    except Exception as exc:  # wfdb raises many types for malformed input
        raise RecordError(path, f"cannot read WFDB record: {_why(exc)}") from None

    signal = rec.p_signal
    names = list(rec.sig_name or [])
    units = list(rec.units or ["mV"] * len(names))
    if signal is None or signal.size == 0 or not names:
        raise RecordError(path, "record has no samples")
    if signal.shape[0] < header.sig_len if header.sig_len else False:
        raise RecordError(path, "signal file is shorter than the header says (truncated)")

    fs = float(rec.fs) * 1.0
    keep, leads, nonstandard, dropped = select_ecg_channels(names, units, unit_scale)
    if not keep:
        raise RecordError(path, f"no ECG channel among {', '.join(names)}")
    scaled = np.stack(
        [signal[:, i].astype(np.float64) * unit_scale(units[i]) for i in keep]
    ).astype(np.float32)
    meta = {"comments": list(rec.comments or [])}
    meta.update(_age_sex(rec.comments or []))
    return ECGRecord(
        signal=scaled, fs=fs, leads=leads, original_leads=[names[i] for i in keep],
        source=str(path), format="wfdb", units=["mV"] * len(keep),
        nonstandard=nonstandard, dropped=dropped, meta=meta,
    )


def _age_sex(comments: list[str]) -> dict[str, object]:
    found: dict[str, object] = {}
    for line in comments:
        lower = line.lower()
        for key in ("age", "sex"):
            tag = f"<{key}>:"
            if tag in lower:
                value = lower.split(tag, 1)[1].split("<", 1)[0].strip()
                found[key] = value.upper() if key == "sex" else value
    return found


def _why(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
