"""Options shared by several commands, defined once."""

from __future__ import annotations

import os
import traceback

import click

from ecglm_cli.io.leads import parse_lead_set, typed_lead_name
from ecglm_cli.output import FORMATS, error_text

format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default=None,
    help="Output format. Default: table on a terminal, jsonl when piped.",
)
fs_option = click.option(
    "--fs", type=float, default=None,
    help="Sampling rate in Hz for .npy/.npz/.csv input without a JSON sidecar.",
)


def device_option(default: str, what: str = "Where the models run"):
    """`--device`: `auto` takes a CUDA GPU when there is one (`models.device.resolve_device`)."""
    return click.option("--device", default=default, show_default=True,
                        type=click.Choice(["auto", "cpu", "cuda"]), help=f"{what}.")


leads_in_option = click.option(
    "--leads", "input_leads", default=None,
    help="Comma-separated lead names for .npy/.npz/.csv input without a sidecar or header.",
)


def parse_input_leads(spec: str | None) -> list[str] | None:
    """The `--leads` value for bare arrays as a list of names (`12`, `limb`, `precordial` expand).

    Standard names are mapped here (`C1` typed by a user is V1); the reader maps the rest and
    reports unknown ones.
    """
    if spec is None:
        return None
    if spec.strip().lower() in ("12", "all", "limb", "precordial"):
        return parse_lead_set(spec)
    names = [typed_lead_name(part.strip()) for part in spec.split(",") if part.strip()]
    if not names:
        raise click.BadParameter(f"no lead names in {spec!r}", param_hint="--leads")
    return names


def debug_enabled() -> bool:
    """True when the user asked for tracebacks (`ecglm --debug ...` or ECGLM_DEBUG=1)."""
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx else None
    return bool(root and root.params.get("debug")) or os.environ.get("ECGLM_DEBUG") == "1"


def report_error(exc: BaseException) -> None:
    """One line on stderr for a failed record (and the traceback under --debug); work goes on."""
    if debug_enabled():
        traceback.print_exception(type(exc), exc, exc.__traceback__)
    click.echo(f"ecglm: error: {error_text(exc)}", err=True)


model_option = click.option(
    "--model", default="ecglm-base", show_default=True,
    help="Model bundle: a folder, the built-in 'ecglm-base', or a name from `ecglm download`.",
)
model_leads_option = click.option(
    "--leads", "leads", default=None, metavar="LIST",
    help="Leads the model may use: 12, limb, precordial, or a list such as I,II,V1 "
    "(the others are masked out). Default: every standard lead present.",
)
input_leads_option = click.option(
    "--input-leads", "input_leads", default=None, metavar="LIST",
    help="Comma-separated lead names for .npy/.npz/.csv input without a sidecar or header.",
)

measurements_option = click.option(
    "--measurements/--no-measurements", default=True, show_default=True,
    help="Measure rate, intervals and axis (about as costly as the model itself; "
    "--no-measurements to score large folders faster).",
)


def parse_model_leads(spec: str | None) -> tuple[str, ...] | None:
    """The `--leads` subset for the model, as canonical standard lead names."""
    if spec is None:
        return None
    from ecglm_cli.io.leads import STANDARD_LEADS

    try:
        leads = parse_lead_set(spec)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--leads") from None
    other = [lead for lead in leads if lead not in STANDARD_LEADS]
    if other:
        raise click.BadParameter(
            f"the model reads the 12 standard leads only, not {', '.join(other)}",
            param_hint="--leads",
        )
    return tuple(leads)
