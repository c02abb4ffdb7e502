"""The ECG language model end to end: `<ecg>` features reach the LM; `ask` on real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from lm_fixtures import add_language_model, make_encoder_bundle, write_record

from ecglm_cli.cli.main import cli, main
from ecglm_cli.errors import ModelError
from ecglm_cli.models.ecglm import ECG_TOKEN
from ecglm_cli.pipeline.ask import Asker

QUESTION = "Does this ECG show symptoms of atrial fibrillation?"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", params=["llama", "qwen2"])
def bundle(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(f"bundle-{request.param}")
    make_encoder_bundle(path)
    return add_language_model(path, request.param)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    folder = tmp_path_factory.mktemp("records")
    return [write_record(folder, f"r{i}", seed=i) for i in range(2)]


def test_ecg_features_reach_the_lm(bundle, records):
    asker = Asker(bundle)
    a, b = (asker.features(asker_record(r)) for r in records)
    logits_a = asker.lm.next_token_logits([QUESTION], a.tokens[None], a.logits[None])
    logits_b = asker.lm.next_token_logits([QUESTION], b.tokens[None], b.logits[None])
    again = asker.lm.next_token_logits([QUESTION], a.tokens[None], a.logits[None])
    assert torch.equal(logits_a, again)
    assert not torch.allclose(logits_a, logits_b, rtol=0, atol=1e-6)  # a different ECG


def asker_record(path):
    from ecglm_cli.io import read_record

    return read_record(path)


def test_placeholder_count_must_match_features(bundle, records):
    asker = Asker(bundle)
    feats = asker.features(asker_record(records[0]))
    batch = asker.lm.encode_prompts([QUESTION])
    ids = batch["input_ids"]
    first = int((ids[0] == asker.lm.ecg_token_id).nonzero()[0])
    short = torch.cat([ids[:, :first], ids[:, first + 1:]], dim=1)  # one placeholder fewer
    with pytest.raises(ModelError, match="placeholders"):
        asker.lm.embed(short, feats.tokens[None], feats.logits[None])
    prompt = asker.lm.tokenizer.decode(ids[0])
    assert prompt.count(ECG_TOKEN) == asker.lm.n_features


def test_batched_generation_equals_one_by_one(bundle, records):
    asker = Asker(bundle)
    feats = [asker.features(asker_record(r)) for r in records]
    questions = [QUESTION, "Describe this ECG in a few words please."]
    together = asker.answer_batch(questions, feats, max_new_tokens=6)
    alone = [asker.answer_batch([q], [f], max_new_tokens=6)[0] for q, f in zip(
        questions, feats, strict=True)]
    assert together == alone


def test_ask_cli_text_json_and_stream(bundle, records):
    runner = CliRunner()
    base = ["ask", str(records[0]), QUESTION, "--model", str(bundle), "--max-new-tokens", "8"]
    first = runner.invoke(cli, base)
    assert first.exit_code == 0, first.output
    assert runner.invoke(cli, base).output == first.output  # greedy: deterministic
    streamed = runner.invoke(cli, [*base, "--stream"])
    assert streamed.exit_code == 0
    assert streamed.stdout.strip() == first.stdout.strip()
    assert streamed.stderr == first.stderr  # the same notes
    as_json = runner.invoke(cli, [*base, "--format", "json", "--leads", "limb"])
    data = json.loads(as_json.stdout)
    assert data["leads"] == ["I", "II", "III", "aVR", "aVL", "aVF"]
    assert set(data["evidence"]["statements"]) == {"AFIB"}  # named by the question
    assert 0.0 <= data["evidence"]["statements"]["AFIB"] <= 1.0
    assert data["model"] == str(bundle)
    both = runner.invoke(cli, [*base, "--format", "json", "--stream"])  # --stream was ignored
    assert both.exit_code == 2 and "cannot be combined with --format json" in both.output


def test_ask_answers_several_questions_in_order_with_one_load(bundle, records, capsys):
    """Each `ask` paid the model load (about 10 s cold) for one question."""
    runner = CliRunner()
    second = "Describe this ECG in a few words please."
    base = ["ask", str(records[0]), "--model", str(bundle), "--max-new-tokens", "8"]
    alone = [runner.invoke(cli, [*base[:2], q, *base[2:]]) for q in (QUESTION, second)]
    together = runner.invoke(cli, [*base[:2], QUESTION, second, *base[2:]])
    assert together.exit_code == 0, together.output
    lines = together.stdout.splitlines()
    assert lines == [" ".join(a.stdout.strip().splitlines()) for a in alone]
    as_json = runner.invoke(cli, [*base[:2], QUESTION, second, *base[2:], "--format", "json"])
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [r["question"] for r in rows] == [QUESTION, second]
    assert [r["answer"] for r in rows] == [a.stdout.strip() for a in alone]
    limit = Asker(bundle).lm.context_length
    with pytest.raises(SystemExit) as exit_info:
        main([*base[:2], QUESTION, "is this normal? " * limit, *base[2:]])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2 and "question 2: the question is too long" in err
    assert out.splitlines() == lines[:1]


def test_several_questions_encode_and_measure_the_record_once(bundle, records, monkeypatch):
    """`ask REC Q1 Q2 Q3` ran the encoder (and, for JSON evidence, the measurements) once per
    question on the same record."""
    import ecglm_cli.pipeline.ask as ask_module

    calls = {"encode": 0, "measure": 0}

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(ask_module, "record_features",
                        counted("encode", ask_module.record_features))
    monkeypatch.setattr(ask_module, "measured_values",
                        counted("measure", ask_module.measured_values))
    result = CliRunner().invoke(cli, ["ask", str(records[0]), QUESTION, "What is the heart rate?",
                                      "Is there left axis deviation?", "--model", str(bundle),
                                      "--max-new-tokens", "4", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 3 and calls == {"encode": 1, "measure": 1}
    assert all(row["evidence"]["measurements"] == rows[0]["evidence"]["measurements"]
               for row in rows)
    asker = Asker(bundle)
    record = asker_record(records[0])
    limb = asker.ask(record, QUESTION, ["I", "II", "III", "aVR", "aVL", "aVF"], 4)
    assert limb.leads == ["I", "II", "III", "aVR", "aVL", "aVF"]  # other leads: encoded again
    assert len(asker.ask(record, QUESTION, None, 4).leads) == 12


def test_ask_refuses_a_record_classify_refuses(bundle, tmp_path, capsys):
    """A record whose leads are all flat used to get an answer from `ask` (exit 0) while
    `classify` refused it; both now name the file and exit 1. A flat lead is not read."""
    import wfdb

    flat = tmp_path / "flat"
    flat.mkdir()
    wfdb.wrsamp("r", fs=100, units=["mV"] * 2, sig_name=["I", "II"], fmt=["16"] * 2,
                p_signal=np.zeros((1000, 2)), write_dir=str(flat))
    for command in (["classify"], ["ask", "--max-new-tokens", "4"]):
        with pytest.raises(SystemExit) as exit_info:
            main([command[0], str(flat / "r.hea"), *([QUESTION] if command[0] == "ask" else []),
                  "--model", str(bundle), *command[1:]])
        assert exit_info.value.code == 1, command
        err = capsys.readouterr().err.strip()
        assert err.endswith("r.hea: no usable lead among the 12 standard leads (absent, mostly "
                           "missing or flat)")
    one_flat = write_record(tmp_path, "one_flat", seed=0)
    record = asker_record(one_flat)
    record.signal[record.leads.index("V6")] = 0.0
    assert "V6" not in Asker(bundle).features(record).leads


def test_ask_on_a_folder_is_a_bad_input_not_a_usage_error(bundle, tmp_path, capsys):
    """It used to exit 2 with click's usage text; `info` and `classify` exit 1 with one line."""
    with pytest.raises(SystemExit) as exit_info:
        main(["ask", str(tmp_path), QUESTION, "--model", str(bundle)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ecglm: error: {tmp_path}") and "\n" not in err


def test_ecg_placeholder_typed_in_the_question_is_plain_text(bundle, records):
    asker = Asker(bundle)
    ids = asker.lm.encode_prompts([f"Is {ECG_TOKEN} normal?"])["input_ids"]
    assert int((ids == asker.lm.ecg_token_id).sum()) == asker.lm.n_features
    result = CliRunner().invoke(cli, ["ask", str(records[0]), f"Is {ECG_TOKEN}{ECG_TOKEN} normal?",
                                      "--model", str(bundle), "--max-new-tokens", "4"])
    assert result.exit_code == 0, result.output


def test_question_longer_than_the_lm_reads_is_refused(bundle, records, capsys):
    """Past its trained positions an LM writes nonsense: refuse rather than answer it."""
    limit = Asker(bundle).lm.context_length
    with pytest.raises(SystemExit) as exit_info:
        main(["ask", str(records[0]), "is this normal? " * limit, "--model", str(bundle)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "the question is too long" in err and f"at most {limit - 1}" in err
    assert "\n" not in err


def test_answer_is_cut_to_the_positions_left(bundle, records):
    asker = Asker(bundle)
    feats = asker.features(asker_record(records[0]))
    prompt_len = asker.lm.encode_prompts([QUESTION])["input_ids"].shape[1]
    room = asker.lm.context_length - prompt_len
    generated: list[int] = []
    asker.answer_batch([QUESTION], [feats], max_new_tokens=room + 50, on_token=generated.append)
    assert 0 < len(generated) <= room


def test_text_answer_does_not_measure(bundle, records, monkeypatch):
    """Measuring costs a scipy.signal import; only `--format json` shows its result."""
    import importlib

    measure_module = importlib.import_module("ecglm_cli.features.measure")

    def no_measuring(record):
        raise AssertionError("measured for a text answer")

    monkeypatch.setattr(measure_module, "measure", no_measuring)
    base = ["ask", str(records[0]), QUESTION, "--model", str(bundle), "--max-new-tokens", "4"]
    assert CliRunner().invoke(cli, base).exit_code == 0
    as_json = CliRunner().invoke(cli, [*base, "--format", "json"])
    assert as_json.exit_code != 0 and "measured for a text answer" in repr(as_json.exception)


@pytest.fixture(scope="module")
def measured_bundle(tmp_path_factory):
    path = tmp_path_factory.mktemp("bundle-measured")
    make_encoder_bundle(path)
    return add_language_model(path, "llama", measured=True)


def test_measured_values_reach_the_lm(measured_bundle, records):
    """An LM trained with measured values reads them in its prompt: they change its logits."""
    asker = Asker(measured_bundle)
    assert json.loads((measured_bundle / "ecglm.json").read_text())["measured"] is True
    feats = asker.features(asker_record(records[0]))
    assert feats.context.startswith("Measured: Heart rate ") and " bpm." in feats.context
    assert feats.measurements["heart_rate"]["value"] is not None
    prompt = asker.lm.tokenizer.decode(asker.lm.encode_prompts([QUESTION], [feats.context])
                                       ["input_ids"][0])
    assert prompt.index("Measured:") < prompt.index("Does this ECG")
    read = asker.lm.next_token_logits([QUESTION], feats.tokens[None], feats.logits[None],
                                      [feats.context])
    other = asker.lm.next_token_logits([QUESTION], feats.tokens[None], feats.logits[None],
                                       [feats.context.replace("Heart rate", "Heart rate 1")])
    assert not torch.allclose(read, other, rtol=0, atol=1e-6)
    answered = CliRunner().invoke(cli, ["ask", str(records[0]), "What is the heart rate?",
                                        "--model", str(measured_bundle), "--max-new-tokens", "4",
                                        "--format", "json"])
    assert answered.exit_code == 0, answered.output
    evidence = json.loads(answered.output)["evidence"]["measurements"]
    assert evidence == feats.measurements  # measured once, for the prompt and the evidence


def test_measured_values_come_from_the_leads_read(measured_bundle, records):
    asker = Asker(measured_bundle)
    feats = asker.features(asker_record(records[0]), ["II"])
    assert feats.leads == ["II"]
    assert set(feats.measurements["signal_quality"]["per_lead"]) == {"II"}


def test_llm_other_than_trained_is_a_clear_error(bundle, records, capsys, tmp_path):
    other = tmp_path / "other-lm"
    other.mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["ask", str(records[0]), QUESTION, "--model", str(bundle), "--llm", str(other)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert f"trained for the compact LM (--llm compact), not '{other}'" in err
    assert "\n" not in err


@pytest.mark.parametrize("llm, message", [
    ("doesnotexist", "unknown model 'doesnotexist'"),
    ("./nope", "./nope: no such file or folder"),
    ("ecglm-small", "ecglm-small is an ECG bundle, not a language model"),
])
def test_an_llm_that_is_no_lm_says_so(bundle, records, capsys, llm, message):
    """They all said the projector was trained for another LM and suggested
    `train align --llm doesnotexist`."""
    with pytest.raises(SystemExit) as exit_info:
        main(["ask", str(records[0]), QUESTION, "--model", str(bundle), "--llm", llm])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert message in err and "train align" not in err


def test_bundle_without_language_model(tmp_path, records, capsys):
    make_encoder_bundle(tmp_path / "enc")
    with pytest.raises(SystemExit) as exit_info:
        main(["ask", str(records[0]), QUESTION, "--model", str(tmp_path / "enc")])
    assert exit_info.value.code == 1
    assert "has no language model" in capsys.readouterr().err


def test_lm_from_a_local_directory(tmp_path, records):
    bundle = make_encoder_bundle(tmp_path / "b")
    add_language_model(bundle, "qwen2", lm_ref=str(tmp_path / "qwen-dir"))
    result = CliRunner().invoke(cli, ["ask", str(records[1]), QUESTION, "--model", str(bundle),
                                      "--llm", str(tmp_path / "qwen-dir"), "--format", "json",
                                      "--max-new-tokens", "4"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["llm"] == str(tmp_path / "qwen-dir")
    # without --llm the row still names the LM the bundle was trained for, not "compact"
    result = CliRunner().invoke(cli, ["ask", str(records[1]), QUESTION, "--model", str(bundle),
                                      "--format", "json", "--max-new-tokens", "4"])
    assert json.loads(result.output)["llm"] == str(tmp_path / "qwen-dir")


def test_ask_reads_a_bare_array_named_with_input_leads(tmp_path):
    import numpy as np
    from click.testing import CliRunner

    from ecglm_cli.cli.main import cli
    from ecglm_cli.examples import example_record_path
    from ecglm_cli.io import read_record

    record = read_record(example_record_path())
    np.save(tmp_path / "ecg.npy", record.signal)
    result = CliRunner().invoke(cli, ["ask", str(tmp_path / "ecg.npy"), "What rhythm is this?",
                                      "--fs", str(record.fs), "--input-leads", "12",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"leads":["I","II","III"' in result.output.replace(" ", "")


def test_folder_that_is_not_a_language_model(tmp_path):
    from ecglm_cli.models.lm_loader import load_causal_lm

    (tmp_path / "notes.txt").write_text("no model here")
    with pytest.raises(ModelError, match="not a language model folder"):
        load_causal_lm(str(tmp_path))


def test_compact_tokenizer_writes_a_number_the_same_way_everywhere():
    """The LM copies measured values from its prompt; that needs one spelling per digit."""
    from ecglm_cli.models.compact_lm import train_tokenizer

    corpus = ["Measured: Heart rate 138 bpm. PR 156 ms, QRS 80 ms.", "138 bpm", "rate 1380"] * 20
    tokenizer = train_tokenizer(corpus, 300)
    in_prompt = tokenizer.tokenize("Heart rate 138 bpm.")
    alone = tokenizer.tokenize("138 bpm")
    digits = [t for t in in_prompt if t.isdigit()]
    assert digits == ["1", "3", "8"] == [t for t in alone if t.isdigit()]
    text = "QTc 362 ms; axis -16°; left axis deviation"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text  # still round-trips exactly


def test_ask_does_not_read_lm_detection_thresholds(bundle, records):
    """A broken lm-thresholds.json, which only LM detection uses, failed every `ask`."""
    (bundle / "lm-thresholds.json").write_text("{broken")
    try:
        result = CliRunner().invoke(cli, ["ask", str(records[0]), QUESTION, "--model",
                                          str(bundle), "--max-new-tokens", "2"])
        assert result.exit_code == 0, result.output
    finally:
        (bundle / "lm-thresholds.json").unlink()


def test_asking_imports_no_measurement_code_until_it_measures():
    """The swapped-arms note imported the features package, and with it scipy.signal (1.3 s
    of a cold text `ask`), at start-up."""
    code = ("import sys, ecglm_cli.pipeline.ask; "
            "print('ecglm_cli.features.measure' in sys.modules, 'scipy.signal' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.split() == ["False", "False"], proc.stderr[-2000:]


def test_ask_evidence_gives_the_probabilities_classify_gives():
    """`ask` averaged the windows' logits and `classify` their probabilities: the example's SR
    read 0.9712 in the evidence and 0.971 in `classify --labels all`, the figure the decision
    thresholds were chosen on."""
    from ecglm_cli.examples import example_record_path

    record = str(example_record_path())
    asked = CliRunner().invoke(cli, ["ask", record, "Is there sinus rhythm?", "--format", "json"])
    assert asked.exit_code == 0, asked.output
    classified = CliRunner().invoke(cli, ["classify", record, "--labels", "all", "--format",
                                          "json"])
    assert classified.exit_code == 0, classified.output
    expected = json.loads(classified.stdout.splitlines()[0])["probabilities"]["all"]["SR"]
    assert json.loads(asked.stdout)["evidence"]["statements"] == {"SR": expected}


def test_an_empty_question_is_refused_naming_which():
    """Among several, "the question is empty" did not say which one."""
    from ecglm_cli.examples import example_record_path

    record = str(example_record_path())
    several = CliRunner().invoke(cli, ["ask", record, "Is this ECG normal?", " "])
    assert several.exit_code == 2 and "question 2 is empty" in several.output
    one = CliRunner().invoke(cli, ["ask", record, ""])
    assert one.exit_code == 2 and "the question is empty" in one.output


def test_a_failed_write_of_the_lm_parts_leaves_the_last_epoch_whole(tmp_path, monkeypatch):
    """Written in place, a full disk left a new epoch's LM beside the previous projector and
    `ecglm.json`, and `ask` loaded the mix without a word."""
    import errno

    import safetensors.torch

    from ecglm_cli.models.ecglm import STAGING_DIR, load_lm_parts, save_lm_parts

    bundle = add_language_model(make_encoder_bundle(tmp_path / "b"))
    before = {p.relative_to(bundle): p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    model = load_lm_parts(bundle, trainable=True)
    with torch.no_grad():
        for parameter in [*model.lm.parameters(), *model.projector.parameters()]:
            parameter.add_(1.0)  # the next epoch's weights

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", disk_full)  # the projector, after the LM
    with pytest.raises(ModelError, match="cannot write the language model's parts \\(No space "
                                         "left on device\\); the bundle keeps those of the "
                                         "last epoch"):
        save_lm_parts(model, bundle, "lm", {})
    after = {p.relative_to(bundle): p.read_bytes() for p in bundle.rglob("*")
             if p.is_file() and STAGING_DIR not in p.parts}
    assert after == before
    monkeypatch.undo()
    save_lm_parts(model, bundle, "lm", {})  # the next write clears the staging folder
    assert not (bundle / STAGING_DIR).exists()
    weights = Path("lm", "model.safetensors")
    assert (bundle / weights).read_bytes() != before[weights]


def test_parts_moved_into_place_are_put_back_when_a_later_move_fails(tmp_path, monkeypatch):
    """A failure after the new LM folder was moved in left it beside the old projector and
    `ecglm.json`, the old LM kept only in the staging folder that the next write deleted."""
    import os as os_module

    from ecglm_cli.models import ecglm

    target, stage = tmp_path / "bundle", tmp_path / "bundle" / ecglm.STAGING_DIR
    (target / "lm").mkdir(parents=True)
    (target / "lm" / "w").write_text("old lm")
    (target / "projector.safetensors").write_text("old projector")
    (stage / "lm").mkdir(parents=True)
    (stage / "lm" / "w").write_text("new lm")
    (stage / "lora").mkdir()
    (stage / "lora" / "a").write_text("new adapter")
    (stage / "projector.safetensors").write_text("new projector")
    real_replace = os_module.replace

    def failing(source, destination):
        if str(source).endswith("projector.safetensors") and "partial" in str(source):
            raise OSError(28, "No space left on device")
        real_replace(source, destination)

    monkeypatch.setattr(ecglm.os, "replace", failing)
    with pytest.raises(OSError):
        ecglm._move_into_place(stage, target, ["lm", "lora", "projector.safetensors"])
    assert (target / "lm" / "w").read_text() == "old lm"
    assert not (target / "lora").exists()
    assert (target / "projector.safetensors").read_text() == "old projector"
