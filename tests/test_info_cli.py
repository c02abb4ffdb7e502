"""`ecglm info` through the real CLI (CliRunner in-process, and one real process for real data)."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner
from conftest import REPO, cli_env

from ecglm_cli.cli.main import NOT_YET, cli
from ecglm_cli.examples import example_record_path


def _json_rows(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_info_is_available_and_documented():
    assert "info" not in NOT_YET
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    info_line = next(line for line in result.output.splitlines() if line.strip().startswith("info"))
    assert "not yet available" not in info_line
    help_text = CliRunner().invoke(cli, ["info", "--help"]).output
    assert "Examples:" in help_text and "--format" in help_text and "--fs" in help_text


def test_info_json_on_the_example_record():
    result = CliRunner().invoke(cli, ["info", "--format", "json", str(example_record_path())])
    assert result.exit_code == 0, result.output
    (row,) = _json_rows(result.stdout)
    assert row["fs"] == 500 and row["n_samples"] == 5000 and row["duration_s"] == 10
    assert row["leads"][:3] == ["I", "II", "III"] and len(row["leads"]) == 12
    assert row["format"] == "wfdb" and row["units"] == ["mV"] and row["nan_fraction"] == 0
    assert row["meta"] == {"age": 60, "sex": "M", "uncalibrated_leads": []}


def test_info_shows_uncalibrated_leads(tmp_path, ecg12):
    """docs/formats.md said `meta.uncalibrated_leads` lists them; `info` printed age and sex
    only."""
    from conftest import write_wfdb

    header = write_wfdb(tmp_path, "g0", ecg12[:2], 500, ["I", "II"])
    header.write_text(header.read_text().replace(" 200.0(0)/mV", " 0(0)/mV", 1))
    result = CliRunner().invoke(cli, ["info", "--format", "json", str(header)])
    assert result.exit_code == 0, result.output
    assert _json_rows(result.stdout)[0]["meta"]["uncalibrated_leads"] == ["I"]


def test_info_reports_dropped_and_original_names(record_files):
    result = CliRunner().invoke(cli, ["info", "--format", "jsonl", str(record_files["edf"]),
                                      str(record_files["wfdb_multifreq"])])
    edf, multifreq = _json_rows(result.stdout)
    assert edf["original_leads"][0] == "ECG I" and edf["leads"][0] == "I"
    assert "Pleth" in edf["dropped"] and edf["format"] == "edf+"
    assert multifreq["fs"] == 500 and "RESP" in multifreq["dropped"]


def test_info_defaults_to_jsonl_when_piped(record_files):
    result = CliRunner().invoke(cli, ["info", str(record_files["wfdb_16"]),
                                      str(record_files["bdf"])])
    assert len(_json_rows(result.stdout)) == 2


def test_info_table_and_csv(record_files):
    paths = [str(record_files["wfdb_16"]), str(record_files["edf"])]
    table = CliRunner().invoke(cli, ["info", "--format", "table", *paths]).stdout
    assert "n_samples" in table and "Pleth: " in table and len(table.splitlines()) == 4
    csv_text = CliRunner().invoke(cli, ["info", "--format", "csv", *paths]).stdout
    header, *rows = csv_text.splitlines()
    assert header.startswith("file,format,fs,duration_s,n_samples") and len(rows) == 2


def test_info_bare_array_with_options(record_files):
    path = str(record_files["npy_bare"])
    result = CliRunner().invoke(cli, ["info", "--format", "json", "--fs", "500", "--leads", "12",
                                      path])
    assert result.exit_code == 0, result.output
    assert _json_rows(result.stdout)[0]["leads"][-1] == "V6"
    csv_path = str(record_files["csv_bare"])
    result = CliRunner().invoke(cli, ["info", "--format", "json", "--fs", "250",
                                      "--leads", "ECG I, lead_ii", csv_path])
    assert _json_rows(result.stdout)[0]["leads"] == ["I", "II"]


def test_info_goes_on_after_a_bad_record(record_files, tmp_path):
    missing = tmp_path / "gone.edf"
    result = CliRunner().invoke(cli, ["info", "--format", "json", str(missing),
                                      str(record_files["wfdb_16"])])
    assert result.exit_code == 1
    assert len(_json_rows(result.stdout)) == 1
    assert result.stderr.strip() == f"ecglm: error: {missing}: no such file"


def test_info_on_all_misc_records_in_one_process(shared_data):
    records = sorted((shared_data / "misc" / "wfdb").glob("*.hea")) + sorted(
        (shared_data / "misc" / "edf").glob("*.edf"))
    some_ptbxl = sorted((shared_data / "ptbxl" / "records100").glob("*/*.hea"))[:10] + sorted(
        (shared_data / "ptbxl" / "records500").glob("*/*.hea"))[:10]
    result = subprocess.run(
        [sys.executable, "-m", "ecglm_cli", "info", "--format", "json",
         *map(str, records + some_ptbxl)],
        capture_output=True, text=True, env=cli_env(), cwd=REPO, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = {row["file"]: row for row in _json_rows(result.stdout)}
    assert len(rows) == len(records) + len(some_ptbxl)
    mitdb = rows[str(shared_data / "misc" / "wfdb" / "100.hea")]
    assert mitdb["fs"] == 360 and mitdb["leads"] == ["II", "V5"] and mitdb["n_samples"] == 650000
    for path in some_ptbxl:
        row = rows[str(path)]
        assert len(row["leads"]) == 12 and row["n_samples"] == row["fs"] * 10
        assert row["fs"] == (100 if "records100" in str(path) else 500)


def test_info_measure_adds_the_measurements_section():
    import json

    from click.testing import CliRunner

    from ecglm_cli.cli.main import cli
    from ecglm_cli.examples import example_record_path

    result = CliRunner().invoke(cli, ["info", str(example_record_path()), "--measure",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    rate = row["measurements"]["heart_rate"]
    assert rate["unit"] == "bpm" and 40 < rate["value"] < 120
