"""`ecglm info`: show what was read from each record, one result row per record."""

from __future__ import annotations

from typing import Any

import click

from ecglm_cli.cli.common import (
    format_option,
    fs_option,
    leads_in_option,
    parse_input_leads,
    report_error,
)
from ecglm_cli.errors import EXIT_ERROR, ECGLMError
from ecglm_cli.io import ECGRecord, read_record
from ecglm_cli.output import get_writer, resolve_format

EXAMPLES = """\b
Examples:
  ecglm info rec.hea                      a WFDB record (also: rec, rec.dat)
  ecglm info *.edf --format json          one JSON object per record
  ecglm info ecg.npy --fs 500 --leads 12  a bare array without a sidecar
  ecglm info a.csv b.hea --format csv     a CSV table of several records
  ecglm info rec.hea --measure            add heart rate, PR, QRS, QT/QTc and axis

A record that cannot be read prints one error line on stderr; the others are still
shown, and the exit code is 1.
"""


def describe(record: ECGRecord) -> dict[str, Any]:
    """The facts `info` reports about one record (JSON keys: see docs/formats.md)."""
    return {
        "file": record.source,
        "format": record.format,
        "fs": record.fs,
        "duration_s": round(record.duration, 3),
        "n_samples": record.n_samples,
        "n_leads": len(record.leads),
        "leads": record.leads,
        "original_leads": record.original_leads,
        "units": sorted(set(record.units)),
        "nan_fraction": round(record.nan_fraction, 6),
        "nonstandard": record.nonstandard,
        "dropped": record.dropped,
        "meta": {"age": record.meta.get("age"), "sex": record.meta.get("sex"),
                 "uncalibrated_leads": record.meta.get("uncalibrated_leads", [])},
    }


def _for_table(row: dict[str, Any]) -> dict[str, Any]:
    """Tables and CSV get one fixed set of columns: `dropped` becomes text."""
    dropped = "; ".join(f"{name}: {why}" for name, why in row["dropped"].items())
    return {**row, "dropped": dropped}


@click.command("info", epilog=EXAMPLES, short_help="Show what was read from records.")
@click.argument("records", nargs=-1, required=True, type=click.Path(dir_okay=True))
@fs_option
@leads_in_option
@click.option(
    "--measure", is_flag=True,
    help="Add the measurements section (heart rate, RR, PR, QRS, QT/QTc, axis, quality).",
)
@format_option
def command(
    records: tuple[str, ...], fs: float | None,
    input_leads: str | None, measure: bool, fmt: str | None,
) -> None:
    """Show format, sampling rate, duration, leads, units, missing samples and dropped
    channels of each RECORD."""
    leads = parse_input_leads(input_leads)
    fmt = resolve_format(fmt)
    writer = get_writer(fmt)
    failed = 0
    try:
        for path in records:
            try:
                record = read_record(path, fs=fs, leads=leads)
                row = describe(record)
                if measure:
                    from ecglm_cli.features import measure as measure_record

                    row["measurements"] = measure_record(record)
            except ECGLMError as exc:
                report_error(exc)
                failed += 1
                continue
            writer.write(_for_table(row) if fmt in ("table", "csv") else row)
    finally:
        writer.close()
    if failed:
        # SystemExit, not ctx.exit: cli.main runs with standalone_mode=False, which turns
        # click's Exit into a return value that `main()` does not pass on
        raise SystemExit(EXIT_ERROR)
