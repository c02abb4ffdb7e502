"""Options shared by several commands, defined once."""

from __future__ import annotations

import click

from ecglm_cli.output import FORMATS

format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default=None,
    help="Output format. Default: table on a terminal, jsonl when piped.",
)
fs_option = click.option(
    "--fs", type=float, default=None,
    help="Sampling rate in Hz for .npy/.npz/.csv input without a JSON sidecar.",
)
leads_in_option = click.option(
    "--leads", "input_leads", default=None,
    help="Comma-separated lead names for .npy/.npz/.csv input without a sidecar or header.",
)
