"""A model bundle is untrusted (it may come from a URL): config.json values no encoder has, or
weights that do not fit it, are refused with one reason before memory is spent on them."""

from __future__ import annotations

import json
import time

import pytest
import torch
from tiny_bundle import make_tiny_bundle

from ecglm_cli.errors import ModelError
from ecglm_cli.models.bundle import load_bundle


@pytest.fixture
def bundle(tmp_path):
    return make_tiny_bundle(tmp_path / "b")


def _update_json(path, section, **values):
    """Set `values` in the JSON file at `path`, inside its `section` (None: at the top)."""
    data = json.loads(path.read_text())
    (data[section] if section else data).update(values)
    path.write_text(json.dumps(data))


def _edit(bundle, **architecture):
    _update_json(bundle / "config.json", "architecture", **architecture)


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


def test_encoder_weights_that_are_not_numbers_are_refused(bundle, tmp_path):
    """An encoder weight set to NaN made `classify` print every probability as null, with no
    finding and exit 0."""
    from safetensors.torch import load_file, save_file

    path = bundle / "model.safetensors"
    weights = load_file(path)
    name = sorted(k for k in weights if weights[k].is_floating_point())[0]
    weights[name][...] = float("nan")
    save_file(weights, path)
    with pytest.raises(ModelError, match=f"tensor {name} holds values that are not numbers"):
        load_bundle(bundle)


@pytest.mark.parametrize("part", ["model.safetensors", "projector.safetensors",
                                  "lm/model.safetensors"])
def test_a_weights_file_that_is_a_folder_is_named_as_such(lm_bundle, part):
    """A folder in place of the encoder weights was "truncated or corrupt weights (No such device
    (os error 19))", safetensors' own words, which point at the file's contents."""
    path = lm_bundle / part
    path.unlink()
    path.mkdir()
    with pytest.raises(ModelError, match=f"{path}: not a regular file"):
        load_bundle(lm_bundle).language_model()


def test_deeply_nested_json_is_named(bundle):
    (bundle / "thresholds.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelError, match="thresholds.json: unreadable"):
        load_bundle(bundle)


@pytest.fixture
def lm_bundle(tmp_path):
    from lm_fixtures import add_language_model, make_encoder_bundle

    path = tmp_path / "with-lm"
    make_encoder_bundle(path)
    return add_language_model(path)


def _edit_lm_weights(bundle, change):
    from safetensors.torch import load_file, save_file

    path = bundle / "lm" / "model.safetensors"
    weights = load_file(path)
    change(weights)
    save_file(weights, path)


def _edit_lm_config(bundle, **values):
    _update_json(bundle / "lm" / "config.json", None, **values)


def _drop_first(weights):
    del weights[sorted(weights)[0]]


def _int8(weights):
    key = sorted(weights)[0]
    weights[key] = weights[key].to(torch.int8)


def _nan(weights):
    weights[sorted(weights)[0]][0] = float("nan")


@pytest.mark.parametrize(("change", "reason"), [
    (_drop_first, "its weights do not fit the model in config.json: 1 tensor missing"),
    (_int8, "is I8, not floating point, and config.json declares no quantization"),
    (_nan, "holds values that are not numbers"),
], ids=["a tensor deleted", "int8 weights", "NaN weights"])
def test_lm_weights_that_do_not_fill_the_model_are_refused(lm_bundle, change, reason):
    """transformers fills a missing tensor with random values and casts int8 silently; with its
    warnings off, ecglm-base with one LM tensor deleted answered "atrial fibrillation" to a
    yes/no question, exit 0."""
    from ecglm_cli.models.ecglm import load_lm_parts

    _edit_lm_weights(lm_bundle, change)
    with pytest.raises(ModelError, match=reason):
        load_lm_parts(lm_bundle)


@pytest.mark.parametrize(("values", "reason"), [
    ({"num_hidden_layers": 1_000_000}, "num_hidden_layers 1000000 is not a whole number"),
    ({"hidden_size": 1_000_000}, "hidden_size 1000000 is not a whole number"),
    ({"max_position_embeddings": -1}, "max_position_embeddings -1 is not a whole number"),
    ({"num_hidden_layers": 400}, "describes a model of about"),
    ({"model_type": "bert"}, "tensors missing"),
], ids=["a million layers", "a million wide", "negative context", "too many for its weights",
        "another architecture"])
def test_lm_configs_that_no_weights_fit_are_refused_before_building(lm_bundle, values, reason):
    """A million layers kept `ask` building until it was killed at 120 s (2.4 GB and rising)."""
    from ecglm_cli.models.ecglm import load_lm_parts

    _edit_lm_config(lm_bundle, **values)
    with pytest.raises(ModelError, match=reason):
        load_lm_parts(lm_bundle)


def _edit_lm_parts(bundle, **projector):
    _update_json(bundle / "ecglm.json", "projector", **projector)


@pytest.mark.parametrize(("values", "reason"), [
    ({"encoder_dim": 10**9}, "projector encoder_dim 1000000000 is not a whole number"),
    ({"encoder_dim": "64"}, "projector encoder_dim '64' is not a whole number"),
    ({"statements": "all:AFIB"}, "projector statements must be a list of names"),
    ({"swap": True}, "trained on another encoder than the one in"),
    ({"int_weights": True}, "is torch.int32, not floating point"),
], ids=["a billion wide", "text width", "text statements", "statements reordered",
        "integer weights"])
def test_projectors_that_cannot_read_the_encoder_are_refused(lm_bundle, values, reason):
    """An `encoder_dim` of 10**9 asked for 128 GB; a projector whose head outputs came in
    another order would read every statement's evidence in the wrong slot, silently."""
    from safetensors.torch import load_file, save_file

    if values.pop("swap", False):
        statements = json.loads((lm_bundle / "ecglm.json").read_text())["projector"]["statements"]
        values["statements"] = [statements[1], statements[0], *statements[2:]]
    if values.pop("int_weights", False):
        path = lm_bundle / "projector.safetensors"
        save_file({k: v.to(torch.int32) for k, v in load_file(path).items()}, path)
    _edit_lm_parts(lm_bundle, **values)
    with pytest.raises(ModelError, match=reason):
        load_bundle(lm_bundle).language_model()


def test_a_broken_chat_template_is_named_at_load(lm_bundle):
    """It failed at the first question with a bare jinja2 TemplateSyntaxError."""
    (lm_bundle / "lm" / "chat_template.jinja").write_text("{{ messages[0]['content'] ")
    with pytest.raises(ModelError, match="its chat template cannot build a prompt"):
        load_bundle(lm_bundle).language_model()


def test_the_lms_own_generation_settings_do_not_break_greedy_answers(lm_bundle, tmp_path):
    """`stop_strings` in the LM's generation_config.json made every answer a ValueError."""
    from lm_fixtures import write_record

    from ecglm_cli.pipeline.ask import Asker

    (lm_bundle / "lm" / "generation_config.json").write_text(json.dumps(
        {"stop_strings": ["zzz"], "do_sample": True, "temperature": 0.1}))
    record = write_record(tmp_path, "r", seed=0)
    from ecglm_cli.io import read_record

    asker = Asker(lm_bundle)
    answers = {asker.ask(read_record(record), "Is this ECG normal?", max_new_tokens=6).answer
               for _ in range(2)}
    assert len(answers) == 1  # greedy, whatever the config asks


def test_pickled_lm_weights_are_refused_without_running_them(lm_bundle, tmp_path):
    import os
    import pickle

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (lm_bundle / "lm" / "model.safetensors").unlink()
    (lm_bundle / "lm" / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ModelError, match="its weights are a pickle that holds more than tensors"):
        load_bundle(lm_bundle).language_model()
    assert not marker.exists()
