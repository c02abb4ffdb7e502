"""Metrics against brute-force definitions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ecglm_cli.models.metrics import (
    MIN_THRESHOLD,
    auc_per_label,
    best_thresholds,
    f1_per_label,
    fmax,
    space_report,
)


def _pairwise_auc(y, s):
    pos, neg = s[y > 0.5], s[y <= 0.5]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_auc_and_thresholds_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random((30, 2)) < 0.4).astype(float)
    y[0], y[1] = 1.0, 0.0  # both classes present
    s = np.round(rng.random((30, 2)) + 0.3 * y, 1)  # rounding makes ties
    aucs = auc_per_label(y, s)
    thresholds = best_thresholds(y, s)
    f1 = f1_per_label(y, s >= thresholds[None, :])
    for j in range(2):
        assert np.isclose(aucs[j], _pairwise_auc(y[:, j], s[:, j]))
        best = max(f1_per_label(y[:, [j]], s[:, [j]] >= t)[0] for t in np.unique(s[:, j]))
        assert np.isclose(f1[j], best)


def test_a_rare_label_scored_low_does_not_get_a_cut_near_zero():
    """One positive scored 0.001 among 100 records: F1 is best with a cut below it (every record
    positive), which used to give a threshold of about 0.0005."""
    scores = np.r_[np.linspace(0.002, 0.01, 99), 0.001][:, None]
    truth = np.r_[np.zeros(99), 1.0][:, None]
    assert best_thresholds(truth, scores)[0] == MIN_THRESHOLD
    common = np.r_[np.zeros(50), np.ones(50)][:, None]
    assert best_thresholds(common, np.r_[np.full(50, 0.1), np.full(50, 0.3)][:, None])[0] == 0.2


def test_undefined_auc_is_nan_and_perfect_scores_give_fmax_1():
    y = np.array([[1, 0], [0, 0], [1, 0]], dtype=float)
    assert np.isnan(auc_per_label(y, y)[1])
    assert fmax(y[:, :1], y[:, :1]) == 1.0


def test_a_space_is_scored_on_the_records_with_one_of_its_labels():
    """As the PTB-XL benchmark selects them: records without a form statement entered the form
    AUC as easy negatives (fold 9: 0.870 against the benchmark's 0.807)."""
    y = np.array([[1, 0], [0, 1], [0, 0], [0, 0]], dtype=float)
    scores = np.array([[0.9, 0.2], [0.3, 0.8], [0.0, 0.0], [0.0, 0.0]])
    report = space_report(y, scores, np.full(2, 0.5))
    assert report["records"] == 2 and report["macro_auc"] == 1.0
    unlabelled = np.array([[0.9, 0.2], [0.3, 0.8], [0.95, 0.0], [0.0, 0.9]])
    assert space_report(y, unlabelled, np.full(2, 0.5)) == report  # false alarms there too


def test_per_label_figures_use_the_same_records_as_the_space():
    """`--per-label` scored every record while the space's figures used the labelled ones."""
    from ecglm_cli.pipeline.evaluate import Split, label_report

    y = [np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([0.0, 0.0])]
    split = Split(labels={"form": y})
    scores = {"form": np.array([[0.9, 0.1], [0.2, 0.8], [0.95, 0.0]])}
    rows = label_report(split, scores, {"form": np.full(2, 0.5)}, {"form": ["A", "B"]},
                        {"form": {}})
    assert [r["auc"] for r in rows] == [1.0, 1.0]  # the unlabelled record's 0.95 is left out
