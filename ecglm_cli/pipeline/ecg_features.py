"""What the language model sees of an ECG: the frozen encoder's tokens and its head logits.

Training (precomputed once per record and view) and inference (`ask`, `evaluate qa`) both go
through `encode_batch`, so the LM always reads features made the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ecglm_cli.io.leads import STANDARD_LEADS
from ecglm_cli.io.record import ECGRecord
from ecglm_cli.pipeline.prepare import to_model_windows
from ecglm_cli.signal.quality import quality_flags

# Head outputs that become ECG tokens: every statement, plus the diagnostic classes.
FEATURE_SPACES: tuple[str, ...] = ("all", "subdiagnostic", "superdiagnostic")


def feature_statements(bundle) -> list[str]:
    """Names of the head-logit tokens, `space:label`, in the order `encode_batch` emits them."""
    return [
        f"{space}:{label}"
        for space in FEATURE_SPACES if space in bundle.label_spaces
        for label in bundle.labels(space)
    ]


@torch.no_grad()
def encode_batch(
    bundle, x: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """`(tokens [B,K,D], logits [B,S])` for model-input windows `x [B,12,T]`, `mask [B,12]`."""
    model = bundle.model
    embedding, tokens = model.encoder(x, mask)
    logits = [model.heads[space](embedding) for space in FEATURE_SPACES
              if space in bundle.label_spaces]
    return tokens.float(), torch.cat(logits, dim=-1).float()


@dataclass
class RecordFeatures:
    tokens: torch.Tensor  # [K, D]
    logits: torch.Tensor  # [S], averaged over the windows: what the LM reads
    window_probs: torch.Tensor  # [S], the windows' probabilities averaged: what `classify` gives
    leads: list[str]  # standard leads the encoder read
    measurements: dict | None = None  # `features.measure`; the LM reads them only via `context`
    context: str = ""  # the prompt line made from `measurements` (empty: none)

    def probabilities(self, statements: list[str]) -> dict[str, float]:
        """Head probabilities as `classify` gives them (the mean of the windows' probabilities,
        not the probability of the mean logit: MIT-BIH 100's SR read 0.9087 here, 0.9056 there),
        so evidence and notes match `classify` and the thresholds chosen on its figures."""
        return dict(zip(statements, self.window_probs.tolist(), strict=True))


def record_features(
    bundle, record: ECGRecord, leads: list[str] | None = None, measured: bool = False
) -> RecordFeatures:
    """Features of a whole record: encoder outputs averaged over all of its windows, and with
    `measured` its measured values (of the leads read) and their prompt line."""
    windows, mask, _ = to_model_windows(record, bundle.config, leads, quality_flags(record))
    device = next(bundle.model.parameters()).device
    x = torch.from_numpy(windows).to(device)
    m = torch.from_numpy(np.repeat(mask[None], len(windows), axis=0)).to(device)
    tokens, logits = encode_batch(bundle, x, m)
    used = [lead for lead, present in zip(STANDARD_LEADS, mask, strict=True) if present]
    features = RecordFeatures(tokens.mean(0).cpu(), logits.mean(0).cpu(),
                              torch.sigmoid(logits).mean(0).cpu(), used)
    if measured:
        features.measurements, features.context = measured_values(record, leads)
    return features


def measured_values(record: ECGRecord, leads: list[str] | None = None) -> tuple[dict, str]:
    """`features.measure` of the record (restricted to `leads`), and the LM's prompt line."""
    from ecglm_cli.features.measure import measure
    from ecglm_cli.knowledge.synthesize import measured_context

    measurements = measure(record.with_leads(leads) if leads else record)
    return measurements, measured_context(measurements)
