"""`ecglm classify`: findings for each record from the classifier bundle."""

from __future__ import annotations

import math
from typing import Any

import click

from ecglm_cli.cli.common import (
    format_option,
    fs_option,
    input_leads_option,
    measurements_option,
    model_leads_option,
    model_option,
    parse_input_leads,
    parse_model_leads,
    report_error,
)
from ecglm_cli.errors import EXIT_ERROR

EXAMPLES = """\b
Examples:
  ecglm classify rec.hea                       findings of the built-in model
  ecglm classify *.hea --format json           one JSON object per record
  ecglm classify rec.hea --labels rhythm --top-k 3
  ecglm classify rec.edf --leads limb          use the limb leads only
  ecglm classify a.hea b.hea --format csv      one row per record, one column per statement
  ecglm classify ecg.npy --fs 500 --input-leads 12
  ecglm classify rec.hea --via lm              the language model's yes/no per statement

A record that cannot be read prints one error line on stderr; the others are still
scored, and the exit code is 1. JSON fields: docs/output-schema.md.
"""


def _label_spaces(ctx: click.Context, param: click.Parameter, value: str | None
                  ) -> list[str] | None:
    """The spaces asked for, each once; an unknown or empty one is a usage error (exit 2)
    before the model loads: `--labels rhythms` exited 1 after loading it."""
    if value is None:
        return None
    from ecglm_cli.data.ptbxl import LABEL_SPACES

    spaces = list(dict.fromkeys(s.strip() for s in value.split(",") if s.strip()))
    unknown = [s for s in spaces if s not in LABEL_SPACES]
    if not spaces or unknown:
        raise click.BadParameter(f"{', '.join(unknown) or 'none given'}; choose from "
                                 f"{', '.join(LABEL_SPACES)}")
    return spaces


def _threshold(ctx: click.Context, param: click.Parameter, value: float | None
               ) -> float | None:
    if value is not None and not math.isfinite(value):  # FloatRange lets NaN through
        raise click.BadParameter(f"{value} is not a number from 0 to 1")
    return value


@click.command("classify", epilog=EXAMPLES, short_help="Score records with the ECG classifier.")
@click.argument("records", nargs=-1, required=True, type=click.Path(dir_okay=True))
@model_option
@click.option("--labels", default=None, metavar="SPACES", callback=_label_spaces,
              help="Label spaces to report, comma-separated: superdiagnostic, diagnostic, "
              "subdiagnostic, form, rhythm, all. Default: superdiagnostic,diagnostic,form,rhythm.")
@click.option("--top-k", type=click.IntRange(min=1), default=None, metavar="K",
              help="List the K most probable statements of each space, positive or not.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None, metavar="T",
              callback=_threshold,
              help="One decision threshold for every statement instead of the bundle's own.")
@model_leads_option
@fs_option
@input_leads_option
@measurements_option
@click.option("--via", type=click.Choice(["heads", "lm"]), default="heads", show_default=True,
              help="heads: the classifier heads. lm: ask the ECG language model a yes/no "
              "question per diagnostic, form and rhythm statement (the paper's zero-shot use).")
@format_option
def command(records: tuple[str, ...], model: str, labels: list[str] | None, top_k: int | None,
            threshold: float | None, leads: str | None, fs: float | None,
            input_leads: str | None, measurements: bool, via: str, fmt: str | None) -> None:
    """Score each RECORD: positive statements with probabilities, findings by label space,
    leads used, quality flags and measurements."""
    if via == "lm":
        ignored = [name for name, given in (("--labels", labels is not None),
                                            ("--top-k", top_k is not None),
                                            ("--threshold", threshold is not None),
                                            ("--no-measurements", not measurements)) if given]
        if ignored:  # they were dropped silently
            raise click.UsageError(
                f"{', '.join(ignored)} {'applies' if len(ignored) == 1 else 'apply'} to the "
                "classifier heads; --via lm reports every diagnostic, form and rhythm statement "
                "at the bundle's LM thresholds")
        _classify_via_lm(records, model, parse_model_leads(leads), fs,
                         parse_input_leads(input_leads), fmt)
        return
    from ecglm_cli.output import get_writer, resolve_format
    from ecglm_cli.pipeline.classify import (
        ReadOptions,
        Scorer,
        classify_paths,
        csv_row,
        load_classifier,
    )

    options = ReadOptions(
        fs=fs, input_leads=_tuple(parse_input_leads(input_leads)),
        leads=parse_model_leads(leads), measurements=measurements,
    )
    fmt = resolve_format(fmt)
    scorer = Scorer(load_classifier(model), spaces=labels, threshold=threshold, top_k=top_k,
                    batch_size=16)
    writer = get_writer(fmt, columns=scorer.columns()) if fmt != "table" else None
    failed = 0
    try:
        for result in classify_paths(records, scorer, options):
            if isinstance(result, Exception):
                report_error(result)
                failed += 1
            elif writer is None:
                click.echo(render_table(result))
            else:
                writer.write(csv_row(result) if fmt == "csv" else result)
    finally:
        if writer is not None:
            writer.close()
    if failed:
        raise SystemExit(EXIT_ERROR)


def _classify_via_lm(records: tuple[str, ...], model: str, leads: list[str] | None,
                     fs: float | None, input_leads: list[str] | None, fmt: str | None) -> None:
    from ecglm_cli.errors import ECGLMError
    from ecglm_cli.io import read_record
    from ecglm_cli.output import get_writer, resolve_format
    from ecglm_cli.pipeline.ask import Asker
    from ecglm_cli.pipeline.classify import file_id
    from ecglm_cli.pipeline.lm_detect import lm_csv_columns, lm_csv_row, lm_findings

    asker = Asker(model)
    fmt = resolve_format(fmt)
    # CSV rows stream out under a header known in advance; a table is a block per record
    writer = None
    if fmt != "table":
        writer = get_writer(fmt, columns=lm_csv_columns(asker) if fmt == "csv" else None)
    failed = 0
    try:
        for path in records:
            try:
                found = lm_findings(asker, read_record(path, fs=fs, leads=input_leads), leads)
            except ECGLMError as exc:
                report_error(exc)
                failed += 1
                continue
            row = {"id": file_id(path), "path": path, "model": model, **found}
            if writer is None:
                click.echo(render_lm_table(row))
            else:
                writer.write(lm_csv_row(row) if fmt == "csv" else row)
    finally:
        if writer is not None:
            writer.close()
    if failed:
        raise SystemExit(EXIT_ERROR)


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return tuple(values) if values is not None else None


def render_table(result: dict[str, Any]) -> str:
    """A readable block for one record: header, quality, findings table, measurements."""
    from ecglm_cli.signal.quality import LEAD_FLAGS as flags

    q = result["quality"]
    # missing leads alone leave `ok` true; a note alone (no heartbeat) flags no lead
    status = "ok" if q["ok"] else "check the flagged leads" if any(
        q[name] for name in flags[1:]) else "not ok"
    lines = [
        _title(result),
        f"  {result['fs']:g} Hz, {result['duration_s']:g} s, {result['windows']} window(s)"
        f"{_coverage_text(result['coverage'])}; "
        f"leads used: {' '.join(result['leads_used'])}",
        f"  quality: {status}" + "".join(
            f"; {name.replace('_leads', '')}: {' '.join(q[name])}" for name in flags if q[name]
        ) + (f"; {q['note']}" if q.get("note") else ""),
    ]
    lines += _findings_table(result["findings"], "probability", "p")
    measured = _measurement_text(result.get("measurements") or {})
    if measured:
        lines.append("  measurements: " + measured)
    return "\n".join(lines) + "\n"


def _coverage_text(share: float) -> str:
    """Said only when the windows leave part of the record out (gaps, a long recording)."""
    return "" if share >= 1.0 else f" covering {share:.0%} of it"


def render_lm_table(result: dict[str, Any]) -> str:
    """`classify --via lm` on a terminal: the LM's positive statements with their P(yes); the
    generic table put all 75 probabilities in one row, some 9,800 characters wide."""
    lines = [_title(result),
             f"  via the language model ({result['llm']}); leads used: "
             f"{' '.join(result['leads_used'])}"]
    return "\n".join(lines + _findings_table(result["findings"], "p_yes", "P(yes)")) + "\n"


def _title(result: dict[str, Any]) -> str:
    """A record's first table line: its id and path, spelt as every format spells them."""
    from ecglm_cli.output import safe_names

    names = safe_names({"id": result["id"], "path": result["path"]})
    return f"{names['id']}  ({names['path']})"


def _findings_table(findings: dict[str, list[dict]], key: str, title: str) -> list[str]:
    from tabulate import tabulate

    rows = []
    for space, found in findings.items():
        rows += [
            [space, f["code"], f["description"], f"{f[key]:.3f}", f"{f['threshold']:.3f}",
             "yes" if f["positive"] else "no"]
            for f in found
        ] or [[space, "-", "(nothing above its threshold)", "", "", ""]]
    table = tabulate(rows, headers=["space", "code", "description", title, "threshold",
                                    "positive"], tablefmt="simple")
    return ["  " + line for line in table.splitlines()]


TABLE_MEASUREMENTS = ("heart_rate", "pr_interval", "qrs_duration", "qt_interval", "qtc_bazett",
                      "qrs_axis")


def _measurement_text(measurements: dict[str, Any]) -> str:
    parts = []
    for name in TABLE_MEASUREMENTS:
        entry = measurements.get(name)
        if isinstance(entry, dict) and isinstance(entry.get("value"), (int, float)):
            unit = entry.get("unit") or ""
            parts.append(f"{name} {entry['value']:g} {unit}".rstrip())
    return ", ".join(parts)
