"""Left and right arm electrodes swapped, the commonest lead reversal: lead I comes out upside
down, II and III trade places, and so do aVR and aVL, while the chest leads are untouched. The
axis and every limb-lead finding are then read from the wrong leads.

The signs used are those of the usual criteria (P wave and QRS inverted in lead I, upright P or
QRS in aVR, chest leads as usual). Dextrocardia inverts lead I too, but also turns V6's QRS
negative, so a record without V5 or V6 is not judged. On the 1,732 PTB-XL records of folds 1-9
at 100 Hz, none is flagged; with their arm leads swapped in software, 71% are
(`benchmarks/lead_reversal_check.py`).
"""

from __future__ import annotations

from ecglm_cli.features.delineate import Delineation

P_MIN_MV = 0.02  # a P wave flatter than this in a lead gives no polarity
NOTE = ("P wave and QRS inverted in lead I, upright in aVR, chest leads as usual: the arm "
        "electrodes may be swapped, and the axis is then wrong")


def arms_swapped(leads: list[str], d: Delineation) -> bool:
    """Whether the delineated median beat of `leads` looks recorded with LA and RA swapped."""
    at = {lead: i for i, lead in enumerate(leads)}
    lateral = next((at[lead] for lead in ("V6", "V5") if lead in at), None)
    if d.p_on is None or "I" not in at or "aVR" not in at or lateral is None:
        return False
    lead_i, avr = at["I"], at["aVR"]
    inverted_i = d.p_wave[lead_i] < -P_MIN_MV and d.net_area[lead_i] < 0
    upright_avr = d.p_wave[avr] > P_MIN_MV or d.net_area[avr] > 0
    return bool(inverted_i and upright_avr and d.net_area[lateral] > 0)
