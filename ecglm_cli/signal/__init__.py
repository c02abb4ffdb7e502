"""Preprocessing: pure numpy functions on `[leads, samples]` arrays (numpy in, numpy out)."""

from ecglm_cli.signal.filters import bandpass, remove_baseline
from ecglm_cli.signal.gaps import fill_gaps
from ecglm_cli.signal.resample import resample
from ecglm_cli.signal.windows import pad_or_crop, windows

__all__ = ["bandpass", "fill_gaps", "pad_or_crop", "remove_baseline", "resample", "windows"]
