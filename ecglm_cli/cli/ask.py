"""`ecglm ask RECORD QUESTION...`: questions about one ECG, answered by the ECG language model."""

from __future__ import annotations

import click

from ecglm_cli.cli.common import fs_option, input_leads_option, parse_input_leads

EPILOG = """\b
Examples:
  ecglm ask rec.hea "Does this ECG show atrial fibrillation?"
  ecglm ask rec.hea "What rhythm is this?" --format json
  ecglm ask rec.hea "Describe this ECG." --stream
  ecglm ask rec.hea "Is there left axis deviation?" --leads limb
  ecglm ask rec.hea "What rhythm is this?" "Is this ECG normal?"   one answer per line
\b
The answer is generated greedily (deterministic). An LM trained with measured values reads
the record's rate, intervals and axis as well. --format json adds the evidence: the
classifier's probabilities for the statements the question or answer names, measured values,
the model and the leads used. Notes go to stderr (in JSON, "notes") where the answer is not
backed up: a lead the question names was not read, the classifier contradicts a yes/no, the
measured axis contradicts an axis answer, the measured rate, QRS, PR or RR regularity clearly
contradicts a yes/no about them (tachycardia, "above 100 bpm", a wide QRS, a regular
rhythm), a PR is asked of a record the classifier finds in AF or flutter, a rate or interval
is asked of an LM that reads none, the answer quotes a "likelihood", or it reached
--max-new-tokens. Several questions are answered in order with the model loaded once: one
line (text) or one JSON object per question; a note then says which question it is about.
Not for clinical decisions.
"""


@click.command("ask", epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("record", type=click.Path())
@click.argument("questions", metavar="QUESTION...", nargs=-1, required=True)
@click.option("--model", default="ecglm-base", show_default=True,
              help="Model bundle directory or name.")
@click.option("--llm", default=None,
              help="Language model the bundle's projector was trained for (default: the bundle's).")
@click.option("--max-new-tokens", type=click.IntRange(1, 1024), default=96, show_default=True,
              help="Longest answer in tokens; cut to the room the LM's context leaves.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Answer alone, or a JSON object with evidence.")
@click.option("--stream", is_flag=True, help="Print the answer as it is generated (text format).")
@click.option("--leads", "use_leads", default=None, metavar="LIST",
              help="Read only these leads: 12, limb, precordial, or a list like I,II,V1.")
@fs_option
@input_leads_option
def command(record: str, questions: tuple[str, ...], model: str, llm: str | None,
            max_new_tokens: int, fmt: str, stream: bool, use_leads: str | None, fs: float | None,
            input_leads: str | None) -> None:
    """Answer each QUESTION about the ECG in RECORD."""
    from ecglm_cli.errors import QuestionError
    from ecglm_cli.io import read_record
    from ecglm_cli.io.leads import parse_lead_set
    from ecglm_cli.output import safe_names, to_json_line
    from ecglm_cli.pipeline.ask import Asker

    empty = [n for n, question in enumerate(questions, start=1) if not question.strip()]
    if empty:  # refused before any is answered
        which = f"question {empty[0]} is" if len(questions) > 1 else "the question is"
        raise click.BadParameter(f"{which} empty", param_hint="QUESTION")
    if stream and fmt == "json":
        raise click.UsageError("--stream prints the answer as text; it cannot be combined with "
                               "--format json (one JSON object, written once the answer is done)")
    try:
        leads = parse_lead_set(use_leads) if use_leads else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--leads") from None
    ecg = read_record(record, fs=fs, leads=parse_input_leads(input_leads))
    asker = Asker(model, llm)
    several = len(questions) > 1
    for n, question in enumerate(questions, start=1):
        on_text = (lambda piece: click.echo(_one_line(piece, several), nl=False)) \
            if stream else None
        try:
            answer = asker.ask(ecg, question, leads, max_new_tokens, on_text,
                               evidence=fmt == "json")
        except QuestionError as exc:
            raise QuestionError(f"question {n}: {exc}" if several else str(exc)) from None
        if stream:
            click.echo()
        elif fmt == "json":
            click.echo(to_json_line(safe_names({"record": record, **answer.to_dict()})))
        else:
            click.echo(_one_line(answer.answer, several))
        if fmt == "text":  # JSON carries them under "notes"
            which = f" (question {n})" if several else ""
            for note in answer.notes:
                click.echo(f"ecglm: note{which}: {note}", err=True)


def _one_line(text: str, several: bool) -> str:
    """With several questions each answer is one line of stdout, so line n answers question n."""
    return text.replace("\r", " ").replace("\n", " ") if several else text
