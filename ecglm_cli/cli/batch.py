"""`ecglm batch`: score a directory tree or a list of records into one resumable file."""

from __future__ import annotations

import os
import sys

import click

from ecglm_cli.cli.common import (
    fs_option,
    input_leads_option,
    measurements_option,
    model_leads_option,
    model_option,
    parse_input_leads,
    parse_model_leads,
)
from ecglm_cli.errors import EXIT_PARTIAL

EXAMPLES = """\b
Examples:
  ecglm batch ptb-xl/records100 --out scores.jsonl
  ecglm batch ecgs/ --out scores.csv --format csv --glob '*_hr.hea'
  find ecgs -name '*.edf' | ecglm batch - --out scores.jsonl
  ecglm batch ecgs/ --out - --quiet | jq -r .id       rows on stdout (no --resume)
  ecglm batch ecgs/ --out scores.jsonl --resume       continue after a crash or kill
  ecglm batch ecgs/ --out part-3.jsonl --shard 3/8    job 3 of 8 (SLURM array, ...)
  ecglm batch ecgs/ --out fast.jsonl --model ecglm-small --no-measurements
                                                      3-4x the default's speed, slightly less
                                                      accurate

Each row carries the record's id and path; a record that cannot be read gets an error row
{id, path, error} and the batch goes on. Summary on stderr; exit code 3 when any record
failed. Sharding and merging: docs/batch.md. Row fields: docs/output-schema.md.
"""


def _default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


@click.command("batch", epilog=EXAMPLES,
               short_help="Score a folder or list of records into one resumable file.")
@click.argument("source", metavar="INPUT")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Output file: rows are appended as records complete. Without --resume it "
                   "is replaced, once the first row is ready. - writes them to stdout.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default=None,
              help="Row format. Default: csv when OUT ends in .csv, else jsonl.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Reader processes. Default: the number of CPU cores (at most 8).")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Records gathered per model call; their windows go through the encoder "
              "this many at a time.")
@click.option("--resume", is_flag=True, help="Keep OUT and skip the ids already in it.")
@click.option("--shard", default=None, metavar="I/N",
              help="Score only shard I of N (0-based), chosen by a stable hash of the id.")
@click.option("--glob", "pattern", default=None, metavar="PATTERN",
              help="Only records whose path matches, e.g. '*_hr.hea' or '0000?/*'.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@model_option
@model_leads_option
@fs_option
@input_leads_option
@measurements_option
def command(source: str, out_path: str, fmt: str | None, workers: int | None, batch_size: int,
            resume: bool, shard: str | None, pattern: str | None, quiet: bool, model: str,
            leads: str | None, fs: float | None, input_leads: str | None,
            measurements: bool) -> None:
    """Score every record of INPUT: a directory (walked recursively), a file listing record
    paths, or - to read that list from stdin."""
    from ecglm_cli.pipeline.batch import run_batch
    from ecglm_cli.pipeline.batch_inputs import parse_shard, select_jobs
    from ecglm_cli.pipeline.classify import ReadOptions, Scorer, load_classifier
    from ecglm_cli.pipeline.rowfile import RowFile
    from ecglm_cli.progress import Progress

    fmt = fmt or ("csv" if out_path.lower().endswith(".csv") else "jsonl")
    try:
        index, count = parse_shard(shard) if shard else (0, 1)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--shard") from None
    options = ReadOptions(fs=fs, input_leads=_tuple(parse_input_leads(input_leads)),
                          leads=parse_model_leads(leads), measurements=measurements)
    workers = workers or _default_workers()
    if resume and out_path == "-":  # - is stdout, as for INPUT (it made a file named -)
        raise click.BadParameter("--resume reads back the rows of a file; stdout has none",
                                 param_hint="--out")
    if resume and os.path.exists(out_path) and not os.path.isfile(out_path):
        raise click.BadParameter(f"{out_path} is not a regular file, so --resume cannot read "
                                 "back the rows it holds", param_hint="--out")

    scorer = Scorer(load_classifier(model), batch_size=batch_size)
    # replaces OUT only at the first row
    out = RowFile(out_path, fmt, scorer.columns(), resume, model=scorer.model_name)
    try:
        jobs, skipped = select_jobs(source, pattern, fs is not None, (index, count),
                                    out.done)
        progress = Progress(len(jobs), label="ecglm batch: ", enabled=not quiet)
        try:
            summary = run_batch(jobs, out, scorer, options, workers, on_row=progress.update)
        finally:
            progress.close()
        out.start()  # a finished run that wrote no row still replaces OUT
    finally:
        out.close()
    summary.skipped = skipped
    click.echo(summary.line(), err=True)
    if summary.failed:
        sys.exit(EXIT_PARTIAL)


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return tuple(values) if values is not None else None
