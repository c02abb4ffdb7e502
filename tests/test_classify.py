"""`ecglm classify` through the real CLI, on records written by the test and on PTB-XL."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import wfdb
from click.testing import CliRunner
from tiny_bundle import LABEL_SPACES, make_tiny_bundle

from ecglm_cli.cli.main import cli
from ecglm_cli.io.leads import STANDARD_LEADS
from ecglm_cli.io.record import ECGRecord
from ecglm_cli.signal.quality import quality_flags
from ecglm_cli.signal.synthetic import synthetic_ecg


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    return make_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny")


def write_wfdb(folder: Path, name: str, signal: np.ndarray, fs: float,
               leads: list[str] | None = None) -> Path:
    """A WFDB record (16-bit) of `signal` [leads, samples] in mV; returns the .hea path."""
    folder.mkdir(parents=True, exist_ok=True)
    leads = leads or list(STANDARD_LEADS)
    wfdb.wrsamp(name, fs=fs, units=["mV"] * len(leads), sig_name=leads,
                p_signal=signal.T.astype(np.float64), fmt=["16"] * len(leads),
                adc_gain=[1000.0] * len(leads), baseline=[0] * len(leads),
                write_dir=str(folder))
    return folder / f"{name}.hea"


def classify(*args: str):
    return CliRunner().invoke(cli, ["classify", *args], catch_exceptions=False)


def test_json_schema_on_synthetic_record(tmp_path, bundle):
    rec = write_wfdb(tmp_path, "syn", synthetic_ecg(fs=500, seconds=10, seed=1), 500)
    result = classify(str(rec), "--model", str(bundle), "--format", "json")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert row["id"] == "syn" and row["path"] == str(rec)
    assert row["model"] == "tiny" and row["fs"] == 500.0 and row["duration_s"] == 10.0
    assert row["windows"] == 4  # 10 s in the tiny bundle's 2.5 s windows
    assert row["leads_used"] == list(STANDARD_LEADS)
    assert row["quality"] == {"missing_leads": [], "flat_leads": [], "saturated_leads": [],
                              "out_of_range_leads": [], "noisy_leads": [],
                              "uncalibrated_leads": [], "ok": True}
    assert set(row["findings"]) == {"superdiagnostic", "diagnostic", "form", "rhythm"}
    for space, found in row["findings"].items():
        probs = row["probabilities"][space]
        assert list(probs) == LABEL_SPACES[space]["labels"]
        assert all(0.0 <= p <= 1.0 for p in probs.values())
        positives = [code for code, p in probs.items() if p >= 0.5]
        assert sorted(f["code"] for f in found) == sorted(positives)
        for f in found:
            assert f["positive"] and f["threshold"] == 0.5
            assert f["description"] == LABEL_SPACES[space]["descriptions"][f["code"]]


def test_top_k_threshold_and_labels(tmp_path, bundle):
    rec = write_wfdb(tmp_path, "syn", synthetic_ecg(fs=100, seconds=10, seed=2), 100)
    result = classify(str(rec), "--model", str(bundle), "--format", "json",
                      "--labels", "superdiagnostic,rhythm", "--top-k", "2", "--threshold", "0")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert set(row["findings"]) == {"superdiagnostic", "rhythm"}
    for found in row["findings"].values():
        assert len(found) == 2 and all(f["positive"] and f["threshold"] == 0 for f in found)
        assert found[0]["probability"] >= found[1]["probability"]


def test_leads_option_masks_the_other_leads(tmp_path, bundle):
    rec = write_wfdb(tmp_path, "syn", synthetic_ecg(fs=100, seconds=10, seed=3), 100)
    rows = {}
    for leads in ("12", "I", "limb"):
        result = classify(str(rec), "--model", str(bundle), "--format", "json", "--leads", leads)
        assert result.exit_code == 0, result.output
        rows[leads] = json.loads(result.stdout)
    assert rows["I"]["leads_used"] == ["I"]
    assert rows["limb"]["leads_used"] == ["I", "II", "III", "aVR", "aVL", "aVF"]
    assert rows["I"]["probabilities"] != rows["12"]["probabilities"]


def test_csv_has_one_row_per_record_and_a_column_per_statement(tmp_path, bundle):
    recs = [write_wfdb(tmp_path, f"r{i}", synthetic_ecg(fs=100, seed=i), 100) for i in range(3)]
    result = classify(*map(str, recs), "--model", str(bundle), "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["id"] for r in rows] == ["r0", "r1", "r2"]
    for space in ("superdiagnostic", "diagnostic", "form", "rhythm"):
        for code in LABEL_SPACES[space]["labels"]:
            assert 0.0 <= float(rows[0][f"{space}.{code}"]) <= 1.0


def test_table_is_readable(tmp_path, bundle):
    rec = write_wfdb(tmp_path, "syn", synthetic_ecg(fs=100, seed=4), 100)
    result = classify(str(rec), "--model", str(bundle), "--format", "table", "--top-k", "1")
    assert result.exit_code == 0, result.output
    assert "leads used: I II III aVR aVL aVF V1 V2 V3 V4 V5 V6" in result.stdout
    assert "quality: ok" in result.stdout
    assert "sinus rhythm" in result.stdout or "atrial fibrillation" in result.stdout


def test_bad_record_is_one_stderr_line_and_others_still_scored(tmp_path, bundle):
    good = write_wfdb(tmp_path, "good", synthetic_ecg(fs=100, seed=5), 100)
    broken = tmp_path / "broken.hea"
    broken.write_text("this is not a header\n")
    result = classify(str(broken), str(good), str(tmp_path / "absent.edf"),
                      "--model", str(bundle), "--format", "jsonl")
    assert result.exit_code == 1
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["good"]
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and "broken.hea" in errors[0] and "absent.edf" in errors[1]
    assert "Traceback" not in result.stderr


def test_a_record_without_standard_leads_names_the_leads_it_has(tmp_path, bundle):
    """"none of the 12 standard leads is present" left the user guessing what was read."""
    fs = 250.0
    signal = synthetic_ecg(fs=fs, seconds=10.0)[:2]
    path = write_wfdb(tmp_path, "mcl", signal, fs, leads=["MCL1", "FECG"])
    result = classify(str(path), "--model", str(bundle))
    assert result.exit_code == 1
    assert "leads read: MCL1, FECG" in result.stderr
    assert "V1-V6" in result.stderr


def test_flat_lead_is_flagged_and_left_out(tmp_path, bundle):
    signal = synthetic_ecg(fs=100, seed=6)
    signal[STANDARD_LEADS.index("V3")] = 0.0
    rec = write_wfdb(tmp_path, "flat", signal, 100)
    row = json.loads(classify(str(rec), "--model", str(bundle), "--format", "json").stdout)
    assert row["quality"]["flat_leads"] == ["V3"] and not row["quality"]["ok"]
    assert "V3" not in row["leads_used"] and len(row["leads_used"]) == 11


def test_a_lead_mostly_missing_is_not_read_and_a_short_record_is_refused(tmp_path, bundle):
    """A lead more than half NaN was listed under `missing_leads` and `leads_used` at once;
    a record shorter than the window was zero-padded and scored with confidence."""
    signal = synthetic_ecg(fs=100, seed=6)
    signal[STANDARD_LEADS.index("V2"), :700] = np.nan
    np.save(tmp_path / "gappy.npy", signal)
    sidecar = json.dumps({"fs": 100, "leads": list(STANDARD_LEADS), "units": "mV"})
    (tmp_path / "gappy.json").write_text(sidecar)
    row = json.loads(classify(str(tmp_path / "gappy.npy"), "--model", str(bundle),
                              "--format", "json").stdout)
    assert row["quality"]["missing_leads"] == ["V2"]
    assert "V2" not in row["leads_used"] and len(row["leads_used"]) == 11
    short = write_wfdb(tmp_path, "short", synthetic_ecg(fs=100, seconds=1.5, seed=6), 100)
    result = classify(str(short), "--model", str(bundle))
    assert result.exit_code == 1 and result.stdout == ""
    assert ("short.hea: record too short for the model (1.50 s recorded in the leads read; at "
            "least 2.0 s needed)") in result.stderr


def test_microvolts_labelled_millivolts_are_flagged_out_of_range(tmp_path, bundle):
    """Clipped to +-10 mV as square waves, such a record came out CD, HYP and SR at 1.0 with
    `quality.ok` true."""
    signal = synthetic_ecg(fs=100, seed=6) * 1000.0
    np.save(tmp_path / "uv.npy", signal)
    (tmp_path / "uv.json").write_text(json.dumps({"fs": 100, "leads": list(STANDARD_LEADS),
                                                  "units": "mV"}))
    result = classify(str(tmp_path / "uv.npy"), "--model", str(bundle), "--format", "json",
                      "--no-measurements")
    quality = json.loads(result.stdout)["quality"]
    assert quality["out_of_range_leads"] and not quality["ok"]
    table = classify(str(tmp_path / "uv.npy"), "--model", str(bundle), "--format", "table",
                     "--no-measurements")
    assert "quality: check the flagged leads; out_of_range: " in table.stdout


def test_quality_flags_saturation_noise_and_missing_leads():
    fs = 500.0
    signal = synthetic_ecg(fs=fs, seed=7)[:3]
    clipped = signal.copy()
    clipped[0] = np.clip(signal[0] * 4, -10, 1.0)  # the amplifier's rail at +1 mV
    noisy = signal[1] + 0.3 * np.random.default_rng(0).standard_normal(signal.shape[1])
    record = ECGRecord(
        signal=np.stack([clipped[0], noisy, signal[2]]).astype(np.float32), fs=fs,
        leads=["I", "II", "V1"], original_leads=["I", "II", "V1"], source="x", format="test",
    )
    flags = quality_flags(record)
    assert flags["saturated_leads"] == ["I"]
    assert flags["noisy_leads"] == ["II"]
    assert flags["missing_leads"] == ["III", "aVR", "aVL", "aVF", "V2", "V3", "V4", "V5", "V6"]
    assert not flags["ok"]


def test_ptbxl_records_at_both_rates(shared_data, bundle):
    ptbxl = shared_data / "ptbxl"
    lr = sorted((ptbxl / "records100").glob("*/*_lr.hea"))[:3]
    hr = [ptbxl / "records500" / p.parent.name / p.name.replace("_lr", "_hr") for p in lr]
    hr = [p for p in hr if p.exists()]
    result = classify(*map(str, lr + hr), "--model", str(bundle), "--format", "jsonl",
                      "--labels", "superdiagnostic")
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert len(rows) == len(lr) + len(hr)
    for p in hr:  # the same ECG at 500 Hz and at 100 Hz gives nearly the same probabilities
        a = rows[p.stem]["probabilities"]["superdiagnostic"]
        b = rows[p.stem.replace("_hr", "_lr")]["probabilities"]["superdiagnostic"]
        assert max(abs(a[k] - b[k]) for k in a) < 0.1


def test_classify_via_lm_reports_yes_probabilities_from_the_shipped_lm():
    import json

    from click.testing import CliRunner

    from ecglm_cli.cli.main import cli
    from ecglm_cli.examples import example_record_path

    result = CliRunner().invoke(cli, ["classify", str(example_record_path()), "--via", "lm",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    assert row["via"] == "lm" and set(row["probabilities"]) == {"diagnostic", "rhythm", "form"}
    p_sr = row["probabilities"]["rhythm"]["SR"]
    assert 0.0 <= p_sr <= 1.0
    from ecglm_cli.models.bundle import load_bundle
    from ecglm_cli.models.ecglm import read_lm_thresholds

    cuts = read_lm_thresholds(load_bundle("ecglm-base").path)  # chosen on fold 9
    for found in row["findings"].values():
        for f in found:
            assert f["threshold"] == round(cuts.get(f["code"], 0.5), 4)
            assert f["p_yes"] >= f["threshold"]


def test_classify_via_lm_table_is_a_readable_block_per_record():
    """The table, the default on a terminal, was one row some 9,800 characters wide with
    Python dicts in its cells."""
    from click.testing import CliRunner

    from ecglm_cli.cli.main import cli
    from ecglm_cli.examples import example_record_path

    result = CliRunner().invoke(cli, ["classify", str(example_record_path()), "--via", "lm",
                                      "--format", "table"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("example_12lead  (") and "via the language model" in lines[1]
    assert "P(yes)" in lines[2] and max(map(len, lines)) < 160
    assert "{" not in result.stdout
    assert any(line.split()[:2] == ["rhythm", "SR"] for line in lines)


def test_classify_via_lm_csv_has_the_heads_columns_not_python_dicts():
    """`findings.diagnostic` held Python reprs ("{'code': 'NORM', ...}") and the probabilities
    were `probabilities.space.code`, unlike the heads' CSV."""
    from ecglm_cli.examples import example_record_path

    path = str(example_record_path())
    result = CliRunner().invoke(cli, ["classify", path, path, "--via", "lm", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert len(rows) == 2 and rows[0] == rows[1]
    head = list(rows[0])
    assert head[:6] == ["id", "path", "model", "via", "llm", "leads_used"]
    assert all(key.split(".")[0] in ("diagnostic", "rhythm", "form") for key in head[6:])
    assert 0.0 <= float(rows[0]["rhythm.SR"]) <= 1.0 and "{" not in result.output


def test_sigterm_ends_classify_via_lm_with_the_scored_rows_written(tmp_path):
    """`timeout` or a scheduler's kill ended the run silently (exit -15), and the CSV of
    `classify --via lm` was held until the end, so every scored row was lost."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import cli_env

    from ecglm_cli.examples import example_record_path

    out = tmp_path / "rows.csv"
    records = [str(example_record_path())] * 200
    with open(out, "w") as handle:
        proc = subprocess.Popen([sys.executable, "-m", "ecglm_cli", "classify", *records,
                                 "--via", "lm", "--format", "csv"], stdout=handle,
                                stderr=subprocess.PIPE, text=True, env=cli_env())
    try:
        deadline = time.monotonic() + 240
        while out.read_text().count("\n") < 2:  # the header and one scored row
            assert proc.poll() is None and time.monotonic() < deadline, "no row was written"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        proc.kill()
        stderr = proc.communicate()[1]
    assert stderr.strip().endswith("ecglm: terminated")
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert 1 <= len(rows) < 200 and all(row["id"] == "example_12lead" for row in rows)


@pytest.mark.parametrize("options", [["--labels", "rhythm"], ["--threshold", "0.99"],
                                     ["--top-k", "1"], ["--no-measurements"]])
def test_heads_only_options_with_via_lm_are_a_usage_error(options, record_files):
    """`classify --via lm` dropped them silently: `--labels rhythm --threshold 0.99` printed all
    three spaces decided at the LM thresholds, exit 0."""
    result = CliRunner().invoke(cli, ["classify", str(record_files["wfdb_meta"]), "--via", "lm",
                                      *options])
    assert result.exit_code == 2
    assert f"{options[0]} applies to the classifier heads" in result.output


def test_per_label_with_via_lm_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["evaluate", "--ptbxl", str(tmp_path), "--via", "lm",
                                      "--per-label"])
    assert result.exit_code == 2 and "--per-label lists the classifier heads'" in result.output


@pytest.mark.parametrize(("option", "value", "reason"), [
    ("--labels", "rhythms", "rhythms; choose from all, diagnostic"),
    ("--labels", " , ", "none given; choose from"),
    ("--threshold", "nan", "nan is not a number from 0 to 1"),
])
def test_unknown_label_spaces_and_a_nan_threshold_are_usage_errors(tmp_path, option, value,
                                                                    reason):
    """`--labels rhythms` exited 1 after loading the model, `--labels ''` fell back to the
    default spaces, and `--threshold nan` made every statement negative."""
    rec = write_wfdb(tmp_path, "r", synthetic_ecg(fs=100, seed=2), 100)
    result = CliRunner().invoke(cli, ["classify", str(rec), option, value,
                                      "--model", str(tmp_path / "no-such-bundle")])
    assert result.exit_code == 2 and reason in result.output, result.output


def test_a_label_space_named_twice_is_reported_once(tmp_path, bundle):
    rec = write_wfdb(tmp_path, "r", synthetic_ecg(fs=100, seed=2), 100)
    result = classify(str(rec), "--model", str(bundle), "--labels", "rhythm,rhythm",
                      "--format", "csv", "--no-measurements")
    header = result.stdout.splitlines()[0].split(",")
    assert len(header) == len(set(header))


def test_a_signal_without_heartbeats_is_not_quality_ok(tmp_path, bundle):
    """A 1 Hz sine on every lead was scored sinus rhythm 0.68 with `quality.ok` true, while
    the measurements said no QRS complexes were found."""
    t = np.arange(1000) / 100.0
    sine = np.tile(np.sin(2 * np.pi * 1.0 * t), (12, 1)).astype(np.float32)
    rec = write_wfdb(tmp_path, "sine", sine, 100)
    quality = json.loads(classify(str(rec), "--model", str(bundle), "--format",
                                  "json").stdout)["quality"]
    assert not quality["ok"] and "find no heartbeat (no QRS complexes found)" in quality["note"]
    table = classify(str(rec), "--model", str(bundle), "--format", "table").stdout
    # no lead is flagged: the table said "check the flagged leads" all the same
    assert "quality: not ok; the measurements find no heartbeat" in table
    ecg = write_wfdb(tmp_path, "ecg", synthetic_ecg(fs=100, seed=2), 100)
    quality = json.loads(classify(str(ecg), "--model", str(bundle), "--format",
                                  "json").stdout)["quality"]
    assert quality["ok"] and "note" not in quality


def test_uncalibrated_leads_make_quality_not_ok_in_json_and_table(tmp_path, bundle):
    """A gain of 0 means uncalibrated; wfdb reads it at 200 units per mV: a record stored at
    1000 read five times too large, and was scored HYP and LVH with `ok` true."""
    rec = write_wfdb(tmp_path, "g0", synthetic_ecg(fs=500, seconds=10, seed=1), 500)
    rec.write_text(rec.read_text().replace(" 1000.0(0)/mV", " 0(0)/mV"))
    quality = json.loads(classify(str(rec), "--model", str(bundle), "--format", "json",
                                  "--no-measurements").stdout)["quality"]
    assert quality["uncalibrated_leads"] == list(STANDARD_LEADS) and not quality["ok"]
    table = classify(str(rec), "--model", str(bundle), "--format", "table",
                     "--no-measurements").stdout
    assert "quality: check the flagged leads; uncalibrated: I II III aVR" in table


def test_a_flag_on_a_lead_no_model_reads_leaves_quality_ok():
    """MIT-BIH v102s: a noisy chest lead `V` of unknown position made `ok` false although the
    model reads only its clean lead II."""
    fs = 500.0
    signal = synthetic_ecg(fs=fs, seed=7)[:2]
    noisy = signal[1] + 0.3 * np.random.default_rng(0).standard_normal(signal.shape[1])
    record = ECGRecord(
        signal=np.stack([signal[1], noisy]).astype(np.float32), fs=fs, leads=["II", "V"],
        original_leads=["II", "V"], source="x", format="test",
    )
    flags = quality_flags(record)
    assert flags["noisy_leads"] == ["V"] and flags["ok"]
    record.leads = ["II", "V2"]
    assert quality_flags(record)["noisy_leads"] == ["V2"] and not quality_flags(record)["ok"]


def test_a_long_record_reports_the_share_of_it_the_windows_cover(tmp_path, bundle):
    """Past 64 windows a record is scored on 64 evenly spaced ones; the output gave the count
    alone, so 64 windows of a 24-hour recording looked like the whole of it."""
    np.save(tmp_path / "long.npy", synthetic_ecg(fs=100, seconds=320, seed=2))  # 128 windows
    (tmp_path / "long.json").write_text(json.dumps({"fs": 100, "leads": list(STANDARD_LEADS)}))
    np.save(tmp_path / "short.npy", synthetic_ecg(fs=100, seconds=10, seed=2))
    (tmp_path / "short.json").write_text(json.dumps({"fs": 100, "leads": list(STANDARD_LEADS)}))
    rows = [json.loads(classify(str(tmp_path / f"{name}.npy"), "--model", str(bundle),
                                "--format", "json", "--no-measurements").stdout)
            for name in ("long", "short")]
    assert (rows[0]["windows"], rows[0]["coverage"]) == (64, 0.5)
    assert (rows[1]["windows"], rows[1]["coverage"]) == (4, 1.0)
    table = classify(str(tmp_path / "long.npy"), "--model", str(bundle), "--format", "table",
                     "--no-measurements").stdout
    assert "64 window(s) covering 50% of it;" in table
