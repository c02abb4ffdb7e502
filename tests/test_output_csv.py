"""CSV output loses no field: records that differ (their own leads, a measurement that is null
with a reason) are written under the union of their columns, whatever their order."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_wfdb

from ecglm_cli.cli.main import cli
from ecglm_cli.io.leads import STANDARD_LEADS
from ecglm_cli.output import CSVWriter, flatten
from ecglm_cli.signal.synthetic import synthetic_ecg


@pytest.fixture(scope="module")
def two_records(tmp_path_factory) -> list[Path]:
    """A 12-lead record and a 2-lead one with non-standard names (no axis: a null with a
    reason, per-lead quality under ECG1/ECG2)."""
    folder = tmp_path_factory.mktemp("csv")
    x = synthetic_ecg(fs=500, seconds=10, seed=1)
    return [write_wfdb(folder, "twelve", x, 500, list(STANDARD_LEADS)),
            write_wfdb(folder, "two", x[:2], 500, ["ECG1", "ECG2"])]


def info(fmt: str, paths: list[Path]) -> str:
    result = CliRunner().invoke(cli, ["info", "--measure", "--format", fmt, *map(str, paths)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("order", [1, -1])
def test_info_csv_keeps_every_field_of_every_record(two_records, order):
    paths = two_records[::order]
    rows = list(csv.DictReader(io.StringIO(info("csv", paths))))
    assert [r["file"] for r in rows] == [str(p) for p in paths]
    for line, row in zip(info("jsonl", paths).splitlines(), rows, strict=True):
        for key, value in flatten(json.loads(line)).items():
            if key.startswith("dropped"):  # a dict in JSON, one text cell in CSV
                continue
            assert key in row, f"{key} of {row['file']} missing from the CSV"
            assert row[key] == ("" if value is None else str(value))
    two = next(r for r in rows if r["file"].endswith("two.hea"))
    assert two["measurements.qrs_axis.reason"].startswith("needs two limb leads")
    assert two["measurements.signal_quality.per_lead.ECG1"] == "1.0"


def test_related_columns_stay_together(two_records):
    header = next(csv.reader(io.StringIO(info("csv", two_records))))
    at = header.index("measurements.qrs_axis.unit")
    assert header[at + 1] == "measurements.qrs_axis.reason"


def test_a_field_outside_known_columns_is_an_error_not_a_dropped_cell():
    writer = CSVWriter(io.StringIO(), columns=["id", "path"])
    writer.write({"id": "a", "path": "a.hea"})
    with pytest.raises(ValueError, match="leads_used"):
        writer.write({"id": "b", "path": "b.hea", "leads_used": ["I"]})
