"""EDF, EDF+ and BDF files through pyedflib: ECG channels are kept by label, the rest dropped."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ecglm_cli.errors import RecordError
from ecglm_cli.io.assemble import assemble, check_size, short_reason
from ecglm_cli.io.record import ECGRecord

_FILETYPES = {0: "edf", 1: "edf+", 2: "edf+", 3: "bdf", 4: "bdf+"}


def read_edf(path: Path) -> ECGRecord:
    """Read the ECG channels of an EDF/EDF+/BDF file; the file is closed in every case."""
    import pyedflib

    try:
        edf = pyedflib.EdfReader(str(path))
    except Exception as exc:  # pyedflib reports every header problem as OSError
        raise RecordError(path, f"not a readable EDF/BDF file: {short_reason(exc)}") from None
    try:
        n = edf.signals_in_file
        names = list(edf.getSignalLabels())
        units = [edf.getPhysicalDimension(i) for i in range(n)]
        rates = [edf.getSampleFrequency(i) for i in range(n)]
        check_size(path, float(sum(edf.getNSamples())))
        fmt = _FILETYPES.get(edf.filetype, "edf")
        return assemble(path, names, units, rates, edf.readSignal, fmt, _meta(edf))
    finally:
        edf.close()


def _meta(edf: Any) -> dict[str, Any]:
    """Sex and age from the EDF+ patient field, where present."""
    meta: dict[str, Any] = {"age": None, "sex": None, "comments": []}
    sex = str(_field(edf, "getSex") or "").strip().upper()[:1]
    meta["sex"] = sex if sex in ("M", "F") else None
    birth = _field(edf, "getBirthdate")
    start = _field(edf, "getStartdatetime")
    for fmt in ("%d %b %Y", "%d-%b-%Y", "%Y-%m-%d"):
        try:
            born = datetime.strptime(str(birth).strip(), fmt)
        except ValueError:
            continue
        if isinstance(start, datetime) and start > born:
            meta["age"] = int((start - born).days // 365.25)
        break
    extra = " ".join(str(_field(edf, m) or "") for m in ("getPatientAdditional",
                                                          "getRecordingAdditional")).strip()
    if extra:
        meta["comments"].append(extra)
    return meta


def _field(edf: Any, getter: str) -> Any:
    try:
        return getattr(edf, getter)()
    except Exception:  # optional header fields: absent or unreadable means unknown
        return None

