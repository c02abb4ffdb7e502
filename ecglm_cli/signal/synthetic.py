"""A plausible synthetic 12-lead ECG, for the example record and for test fixtures.

A heart-vector (dipole) model: each wave (P, septal Q, R, S, T) is a Gaussian pulse in time with
a fixed 3-D direction; each lead sees the projection of that vector on its own axis. Limb leads
therefore obey Einthoven's law (III = II - I, aVR = -(I + II) / 2, ...) exactly, and the
precordial leads progress from rS in V1 to qR in V6, as in a normal sinus-rhythm ECG.
Axes: x to the patient's left, y inferior, z anterior. Amplitudes are in millivolts.
"""

from __future__ import annotations

import numpy as np

# wave: (time from the R peak in s, width in s, heart vector in mV)
_WAVES: tuple[tuple[float, float, tuple[float, float, float]], ...] = (
    (-0.160, 0.022, (0.08, 0.12, 0.03)),  # P
    (-0.028, 0.009, (-0.10, -0.04, 0.22)),  # septal Q (anterior, to the right)
    (0.000, 0.011, (0.95, 0.75, -0.25)),  # R (left, inferior, posterior)
    (0.026, 0.010, (-0.20, -0.30, -0.45)),  # S
    (0.270, 0.055, (0.22, 0.22, 0.12)),  # T
)
# precordial electrodes: angle in the horizontal plane from the left towards anterior, gain
_PRECORDIAL = ((115, 1.0), (95, 1.3), (75, 1.4), (60, 1.3), (30, 1.1), (0, 0.9))


def lead_axes() -> np.ndarray:
    """The 12 lead vectors `[12, 3]` in STANDARD_LEADS order."""
    lead_i = np.array([1.0, 0.0, 0.0])
    lead_ii = np.array([np.cos(np.radians(60)), np.sin(np.radians(60)), 0.0])
    limb = [
        lead_i, lead_ii, lead_ii - lead_i, -(lead_i + lead_ii) / 2,
        lead_i - lead_ii / 2, lead_ii - lead_i / 2,
    ]
    chest = [
        gain * np.array([np.cos(np.radians(a)), 0.15, np.sin(np.radians(a))])
        for a, gain in _PRECORDIAL
    ]
    return np.stack(limb + chest)


def beat_times(seconds: float, heart_rate: float, rng: np.random.Generator) -> np.ndarray:
    """R-peak times with a gentle respiratory sinus arrhythmia."""
    rr = 60.0 / heart_rate
    times, t = [], 0.35 + 0.1 * rng.random()
    while t < seconds + 0.5:
        times.append(t)
        t += rr * (1 + 0.03 * np.sin(2 * np.pi * 0.25 * t) + 0.01 * rng.standard_normal())
    return np.array(times)


def synthetic_ecg(
    fs: float = 500.0,
    seconds: float = 10.0,
    heart_rate: float = 70.0,
    seed: int = 0,
    noise_mv: float = 0.01,
) -> np.ndarray:
    """A 12-lead sinus-rhythm ECG `[12, round(fs * seconds)]` float32 mV (STANDARD_LEADS order)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(fs * seconds))) / fs
    dipole = np.zeros((3, t.size))
    qt_scale = np.sqrt(60.0 / heart_rate)  # Bazett: the T wave moves with the RR interval
    for r_peak in beat_times(seconds, heart_rate, rng):
        for offset, width, vector in _WAVES:
            centre = r_peak + (offset * qt_scale if offset > 0.1 else offset)
            pulse = np.exp(-0.5 * ((t - centre) / width) ** 2)
            dipole += np.outer(vector, pulse)
    # breathing moves the heart: a slow wander of the whole vector, so Einthoven still holds
    dipole += 0.05 * np.sin(2 * np.pi * 0.2 * t + rng.uniform(0, 2 * np.pi, (3, 1)))
    leads = lead_axes() @ dipole
    noise = noise_mv * rng.standard_normal(leads.shape)  # electrode noise, lead by lead
    return (leads + noise).astype(np.float32)
