"""Preprocessing: resampling, filtering, gaps and windows."""

from ecglm_cli.signal.resample import resample

__all__ = ["resample"]
