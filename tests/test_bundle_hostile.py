"""A model bundle is untrusted (it may come from a URL): config.json values no encoder has, or
weights that do not fit it, are refused with one reason before memory is spent on them."""

from __future__ import annotations

import json
import time

import pytest
from tiny_bundle import make_tiny_bundle

from ecglm_cli.errors import ModelError
from ecglm_cli.models.bundle import load_bundle


@pytest.fixture
def bundle(tmp_path):
    return make_tiny_bundle(tmp_path / "b")


def _edit(bundle, **architecture):
    path = bundle / "config.json"
    config = json.loads(path.read_text())
    config["architecture"].update(architecture)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize(("change", "reason"), [
    ({"blocks_per_stage": [1_000_000, 1, 1, 1]}, "blocks_per_stage must be a whole number"),
    ({"width": "wide"}, "width must be a whole number"),
    ({"width": -5}, "width must be a whole number"),
    ({"width": 10**400}, "width must be a whole number"),
    ({"kernel_size": True}, "kernel_size must be a whole number"),
    ({"fs": "nan"}, "fs must be a number"),
    ({"blocks_per_stage": "2222"}, "blocks_per_stage must list"),
    ({"label_counts": {"rhythm": 10**9}}, "label_counts"),
], ids=["a million blocks", "text width", "negative width", "huge width", "bool kernel",
        "text rate", "text blocks", "a billion labels"])
def test_config_values_no_encoder_has_are_refused(bundle, change, reason):
    """`blocks_per_stage` of a million took over 6 GB in 97 s; the others raised TypeError or
    RuntimeError with pages of C++ frames."""
    _edit(bundle, **change)
    started = time.monotonic()
    with pytest.raises(ModelError, match=f"bad config.json: {reason}"):
        load_bundle(bundle)
    assert time.monotonic() - started < 30


def test_weights_that_do_not_fit_the_config_are_refused_before_building(bundle, monkeypatch):
    """width 512 in config.json with width-4 weights built 1.8 GB of model first."""
    import ecglm_cli.models.bundle as bundle_module

    built = []
    real = bundle_module.ECGClassifier

    def counting(config):
        model = real(config)
        built.append(next(model.parameters()).device.type)
        return model

    monkeypatch.setattr(bundle_module, "ECGClassifier", counting)
    _edit(bundle, width=512)
    with pytest.raises(ModelError, match="has shape .* config.json implies"):
        load_bundle(bundle)
    assert built == ["meta"]  # a skeleton without memory; the real model was never built


def test_deeply_nested_json_is_named(bundle):
    (bundle / "thresholds.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelError, match="thresholds.json: unreadable"):
        load_bundle(bundle)
