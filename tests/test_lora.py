"""`train instruct --lora-rank`: LoRA adapters for a pretrained LM, saved in and loaded from a
bundle. Runs on a PTB-XL-style folder and a tiny Llama written by the test itself."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
import torch
from click.testing import CliRunner
from knowledge_fixtures import row, write_ptbxl
from lm_fixtures import make_encoder_bundle, tiny_lm

from ecglm_cli.cli.main import cli, main
from ecglm_cli.data.ptbxl import load_label_spaces
from ecglm_cli.errors import ModelError
from ecglm_cli.models.ecglm import load_lm_parts

pytest.importorskip("peft", reason="LoRA needs the optional peft package (ecglm[lora])")

SCP_STATEMENTS = """\
,description,diagnostic,form,rhythm,diagnostic_class,diagnostic_subclass
NORM,normal ECG,1.0,,,NORM,NORM
IMI,inferior myocardial infarction,1.0,,,MI,IMI
LVOLT,low QRS voltages,,1.0,,,
AFIB,atrial fibrillation,,,1.0,,
SR,sinus rhythm,,,1.0,,
"""
TINY = ["--views", "1", "--draws", "1", "--val-questions", "2", "--device", "cpu",
        "--batch-size", "16", "--lr", "5e-3"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    rows = [row(i, {"NORM": 100.0, "SR": 0.0}, fold=1) for i in (1, 2)]
    rows += [row(3, {"IMI": 100.0, "AFIB": 0.0}, fold=2), row(4, {"LVOLT": 0.0}, fold=9)]
    ptbxl = write_ptbxl(root / "ptbxl", rows)
    (ptbxl / "scp_statements.csv").write_text(SCP_STATEMENTS)
    spaces = {n: s.labels for n, s in load_label_spaces(ptbxl / "scp_statements.csv").items()}
    encoder = make_encoder_bundle(root / "enc", spaces)
    lm, tokenizer = tiny_lm("llama")
    lm.save_pretrained(root / "llm")
    tokenizer.save_pretrained(root / "llm")
    runner = CliRunner()
    aligned = runner.invoke(cli, ["train", "align", "--ptbxl", str(ptbxl), "--bundle",
                                  str(encoder), "--out", str(root / "aligned"), "--llm",
                                  str(root / "llm"), "--epochs", "1", *TINY])
    assert aligned.exit_code == 0, aligned.output
    tuned = runner.invoke(cli, ["train", "instruct", "--ptbxl", str(ptbxl), "--bundle",
                                str(root / "aligned"), "--out", str(root / "tuned"), "--llm",
                                str(root / "llm"), "--lora-rank", "4", "--epochs", "2", *TINY])
    assert tuned.exit_code == 0, tuned.output
    return root, ptbxl


def test_adapter_is_trained_saved_and_merged_on_load(setup):
    root, _ = setup
    tuned = root / "tuned"
    assert json.loads((tuned / "ecglm.json").read_text())["lora_rank"] == 4
    assert (tuned / "lora" / "adapter_model.safetensors").is_file()
    assert not (root / "aligned" / "lora").exists()  # align left the LM frozen, no adapter
    assert not (tuned / "lm").exists()  # the pretrained LM itself is not copied

    base = load_lm_parts(root / "aligned").lm
    merged = load_lm_parts(tuned).lm
    assert type(merged).__name__ == "LlamaForCausalLM"  # merged for inference, no peft wrapper
    changed = [name for name, weight in merged.state_dict().items()
               if not torch.equal(weight, base.state_dict()[name])]
    assert any("q_proj" in name for name in changed)  # the adapter moved the attention
    assert not any("embed_tokens" in name for name in changed)  # and nothing it should not


def _main_error(args: list[str], capsys) -> tuple[int, str]:
    """Run the real entry point; `(exit code, stderr)` of a run that must fail."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code, capsys.readouterr().err.strip()


def test_ask_reads_the_adapter(setup, tmp_path, capsys):
    root, ptbxl = setup
    record = ptbxl / "records100" / "00000" / "00001_lr.hea"
    question = "Does this ECG show symptoms of sinus rhythm?"
    asked = CliRunner().invoke(cli, ["ask", str(record), question, "--model",
                                     str(root / "tuned"), "--max-new-tokens", "3"])
    assert asked.exit_code == 0, asked.output

    broken = tmp_path / "broken"
    shutil.copytree(root / "tuned", broken)
    (broken / "lora" / "adapter_model.safetensors").write_bytes(b"not safetensors")
    code, err = _main_error(["ask", str(record), question, "--model", str(broken)], capsys)
    assert code == 1 and "cannot read the LoRA adapter" in err and "\n" not in err

    config = json.loads((root / "tuned" / "lora" / "adapter_config.json").read_text())
    shutil.copy(root / "tuned" / "lora" / "adapter_model.safetensors", broken / "lora")
    (broken / "lora" / "adapter_config.json").write_text(
        json.dumps({**config, "target_modules": ["no_such_layer"]}))
    code, err = _main_error(["ask", str(record), question, "--model", str(broken)], capsys)
    assert code == 1 and "the LoRA adapter does not fit this LM" in err and "\n" not in err


def test_an_adapter_weight_that_is_not_a_number_is_refused(setup, tmp_path):
    """A NaN in the adapter is merged into every weight it touches."""
    from safetensors.torch import load_file, save_file

    root, _ = setup
    broken = tmp_path / "nan"
    shutil.copytree(root / "tuned", broken)
    path = broken / "lora" / "adapter_model.safetensors"
    weights = load_file(path)
    name = sorted(weights)[0]
    weights[name][...] = float("nan")
    save_file(weights, path)
    with pytest.raises(ModelError, match=f"LoRA weight {name} holds values that are not"):
        load_lm_parts(broken)


def test_instruct_again_continues_the_adapter(setup, tmp_path, capsys):
    root, ptbxl = setup
    out = tmp_path / "again"
    again = CliRunner().invoke(cli, ["train", "instruct", "--ptbxl", str(ptbxl), "--bundle",
                                     str(root / "tuned"), "--out", str(out), "--llm",
                                     str(root / "llm"), "--epochs", "1", *TINY])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "ecglm.json").read_text())["lora_rank"] == 4
    code, err = _main_error(["train", "instruct", "--ptbxl", str(ptbxl), "--bundle", str(out),
                             "--llm", str(root / "llm"), "--lora-rank", "8", *TINY], capsys)
    assert code == 1 and err.endswith("its LoRA adapter has rank 4, not 8")


def test_lora_rank_with_the_compact_lm_is_refused(setup, capsys):
    root, ptbxl = setup
    code, err = _main_error(["train", "instruct", "--ptbxl", str(ptbxl), "--bundle",
                             str(root / "enc"), "--out", str(root / "nope"), "--lora-rank", "4",
                             *TINY], capsys)
    assert code == 1 and "the compact LM is trained whole" in err


def test_missing_peft_is_one_clear_error(setup, monkeypatch):
    root, _ = setup
    monkeypatch.setitem(sys.modules, "peft", None)  # import peft now raises ImportError
    with pytest.raises(ModelError, match=r"pip install 'ecglm\[lora\]'"):
        load_lm_parts(root / "tuned")
