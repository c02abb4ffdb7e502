"""`ECGRecord`: the one type every reader returns and every later stage consumes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np


@dataclass
class ECGRecord:
    """An ECG in millivolts, `signal` shaped `[leads, samples]`.

    `leads` holds canonical names (see `io.leads.canonical_lead`); `original_leads` holds the
    names as found in the file, in the same order. `nonstandard` lists canonical names that are
    ECG leads outside the standard 12 (for example MCL1 or the Frank leads), kept as found.
    `dropped` maps channels that were read but not kept to the reason they were dropped.
    """

    signal: np.ndarray
    fs: float
    leads: list[str]
    original_leads: list[str]
    source: str
    format: str
    units: list[str] = field(default_factory=list)
    nonstandard: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[1])

    @property
    def duration(self) -> float:
        return self.n_samples / float(self.fs)

    @property
    def nan_fraction(self) -> float:
        return float(np.isnan(self.signal).mean()) if self.signal.size else 0.0

    def with_leads(self, leads: list[str]) -> ECGRecord:
        """The same record holding only the channels named in `leads` (in file order)."""
        keep = [i for i, lead in enumerate(self.leads) if lead in leads]

        def pick(values: list[str]) -> list[str]:
            return [values[i] for i in keep] if len(values) == len(self.leads) else values

        return replace(self, signal=self.signal[keep], leads=pick(self.leads),
                       original_leads=pick(self.original_leads), units=pick(self.units))
