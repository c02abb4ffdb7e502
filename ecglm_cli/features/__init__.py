"""Measured ECG features: beats, heart rate, PR, QRS, QT/QTc, axis and signal quality."""

from ecglm_cli.features.measure import measure
from ecglm_cli.features.qrs_detect import detect_qrs

__all__ = ["detect_qrs", "measure"]
