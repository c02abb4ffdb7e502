"""Frontal QRS axis from the net QRS area of the limb leads (hexaxial reference system)."""

from __future__ import annotations

import numpy as np

# Lead -> (angle in the frontal plane in degrees, gain). Augmented leads see the heart vector
# scaled by sqrt(3)/2 relative to the Einthoven leads.
_HEXAXIAL: dict[str, tuple[float, float]] = {
    "I": (0.0, 1.0), "II": (60.0, 1.0), "III": (120.0, 1.0),
    "aVR": (-150.0, np.sqrt(3) / 2), "aVL": (-30.0, np.sqrt(3) / 2),
    "aVF": (90.0, np.sqrt(3) / 2),
}


def frontal_vector(net: dict[str, float]) -> tuple[float, float] | None:
    """Frontal (x, y) QRS vector from net areas. Uses I and aVF when both are present;
    otherwise any two or more limb leads by least squares. None with fewer than two."""
    if "I" in net and "aVF" in net:
        use = ["I", "aVF"]
    else:
        use = [lead for lead in _HEXAXIAL if lead in net]
    if len(use) < 2:
        return None
    angles = np.deg2rad([_HEXAXIAL[lead][0] for lead in use])
    gains = np.array([_HEXAXIAL[lead][1] for lead in use])
    design = gains[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    values = np.array([net[lead] for lead in use])
    vec, *_ = np.linalg.lstsq(design, values, rcond=None)
    return float(vec[0]), float(vec[1])


def axis_degrees(vec: tuple[float, float]) -> float:
    """Angle in degrees, -180..180, with positive angles pointing toward aVF (downward)."""
    return float(np.degrees(np.arctan2(vec[1], vec[0])))
