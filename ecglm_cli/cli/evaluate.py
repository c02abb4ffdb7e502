"""`ecglm evaluate`: score a bundle on PTB-XL folds (a group, so other benchmarks can be added)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ecglm_cli.cli.common import format_option

EPILOG = """\b
Examples:
  ecglm evaluate --ptbxl ptb-xl/ --fold 9
  ecglm evaluate --ptbxl ptb-xl/ --fold 9 --leads I --format json
  ecglm evaluate --ptbxl ptb-xl/ --fold 10 --model runs/enc --per-label
"""


@click.group(
    "evaluate", invoke_without_command=True, epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--ptbxl", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="PTB-XL folder (ptbxl_database.csv, scp_statements.csv, records100/).")
@click.option("--fold", "folds", default="10", show_default=True,
              help="strat_fold(s) to evaluate, e.g. 10 or 9,10.")
@click.option("--model", "model_name", default="ecglm-base", show_default=True,
              help="Bundle directory or name.")
@click.option("--leads", default="12", show_default=True,
              help="Leads the model may see: 12, limb, precordial, I, II or a list like I,II,V2.")
@click.option("--per-label", is_flag=True, help="Also report every statement's positives.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Evaluate at most N records.")
@format_option
@click.pass_context
def command(ctx: click.Context, ptbxl: Path | None, folds: str, model_name: str, leads: str,
            per_label: bool, limit: int | None, fmt: str | None) -> None:
    """Evaluate a model bundle on PTB-XL: macro AUC, macro F1 and Fmax per label space."""
    if ctx.invoked_subcommand is not None:
        return
    if ptbxl is None:
        raise click.UsageError("--ptbxl is required (the PTB-XL folder to evaluate on)")
    from ecglm_cli.cli.train import parse_folds
    from ecglm_cli.io.leads import STANDARD_LEADS, parse_lead_set
    from ecglm_cli.output import get_writer, resolve_format
    from ecglm_cli.pipeline.evaluate import evaluate_ptbxl

    try:
        lead_list = parse_lead_set(leads)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--leads") from None
    unknown = [lead for lead in lead_list if lead not in STANDARD_LEADS]
    if unknown:
        raise click.BadParameter(f"not standard leads: {', '.join(unknown)}", param_hint="--leads")
    result = evaluate_ptbxl(model_name, ptbxl, parse_folds(folds), lead_list, limit)
    if result.skipped:
        click.echo(f"ecglm: skipped {len(result.skipped)} records (missing or unreadable)",
                   err=True)
    fmt = resolve_format(fmt)
    writer = get_writer(fmt)
    for row in result.spaces:
        writer.write({"leads": leads, **row})
    writer.close()
    if per_label:
        if fmt == "table":
            sys.stdout.write("\n")
        writer = get_writer(fmt)
        for row in result.labels:
            writer.write(row)
        writer.close()
