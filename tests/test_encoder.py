"""The encoder takes any non-empty lead subset, and absent leads contribute nothing."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ecglm_cli.io.leads import STANDARD_LEADS
from ecglm_cli.io.record import ECGRecord
from ecglm_cli.models.encoder import ECGClassifier, ECGEncoder, EncoderConfig
from ecglm_cli.pipeline.prepare import to_model_input, to_model_windows
from ecglm_cli.signal.quality import quality_flags

CONFIG = EncoderConfig(width=4, kernel_size=3, window_s=2.0, stride_s=1.0, n_tokens=4,
                       label_counts={"superdiagnostic": 5, "rhythm": 12})
torch.manual_seed(0)
ENCODER = ECGEncoder(CONFIG).eval()


@settings(max_examples=12, deadline=None)
@given(st.sets(st.sampled_from(STANDARD_LEADS), min_size=1))
def test_any_lead_subset_gives_outputs_that_ignore_absent_leads(leads):
    mask = torch.tensor([[lead in leads for lead in STANDARD_LEADS]])
    x = torch.randn(1, 12, CONFIG.window)
    noisy = x.clone()
    noisy[:, ~mask[0]] = torch.randn_like(noisy[:, ~mask[0]]) * 5
    with torch.no_grad():
        emb, tokens = ENCODER(x, mask)
        emb2, tokens2 = ENCODER(noisy, mask)
    assert emb.shape == (1, CONFIG.embed_dim)
    assert tokens.shape == (1, CONFIG.n_tokens, CONFIG.embed_dim)
    assert torch.isfinite(emb).all()
    torch.testing.assert_close(emb, emb2)
    torch.testing.assert_close(tokens, tokens2)


def test_classifier_has_one_head_per_label_space():
    out = ECGClassifier(CONFIG).eval()(torch.randn(2, 12, CONFIG.window), torch.ones(2, 12).bool())
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "superdiagnostic": (2, 5), "rhythm": (2, 12)
    }


def _record(leads, signal, fs=250.0):
    return ECGRecord(signal=signal.astype(np.float32), fs=fs, leads=list(leads),
                     original_leads=list(leads), source="mem", format="test")


def test_prepare_orders_leads_resamples_and_masks():
    rng = np.random.default_rng(1)
    sig = rng.normal(size=(3, 2500)) + 3.0  # 10 s at 250 Hz with an offset
    a = _record(["V2", "I", "aVF"], sig)
    b = _record(["I", "aVF", "V2"], sig[[1, 2, 0]])
    xa, ma = to_model_input(a, CONFIG)
    xb, mb = to_model_input(b, CONFIG)
    assert xa.shape == (12, CONFIG.window) and xa.dtype == np.float32
    assert ma.tolist() == [lead in ("I", "aVF", "V2") for lead in STANDARD_LEADS]
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ma, mb)
    assert abs(float(np.median(xa[0]))) < 0.2  # baseline removed
    assert not xa[~ma].any()
    windows, _, covered = to_model_windows(a, CONFIG, None, quality_flags(a))
    assert covered == 1.0
    assert windows.shape == (9, 12, CONFIG.window)  # 10 s, 2 s windows, 1 s hop


def test_prepare_pads_records_a_little_short_and_drops_empty_leads():
    sig = np.zeros((2, 170))  # 1.7 s of a 2 s window: at least 80 % of it
    sig[1] = np.nan
    x, mask = to_model_input(_record(["II", "V1"], sig, fs=100.0), CONFIG)
    assert x.shape == (12, CONFIG.window)
    assert mask.tolist() == [lead == "II" for lead in STANDARD_LEADS]
