"""`ecglm evaluate`: score a bundle on PTB-XL folds (a group, so other benchmarks can be added)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from click.core import ParameterSource

from ecglm_cli.cli.common import device_option, format_option
from ecglm_cli.errors import RecordError

EPILOG = """\b
Examples:
  ecglm evaluate --ptbxl ptb-xl/ --fold 9
  ecglm evaluate --ptbxl ptb-xl/ --fold 9 --leads I --format json
  ecglm evaluate --ptbxl ptb-xl/ --fold 10 --model runs/enc --per-label
  ecglm evaluate --ptbxl ptb-xl/ --fold 9 --via lm
  ecglm evaluate qa --ecgqa ecgqa/ptbxl/template/test --ptbxl ptb-xl/
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
@click.option("--via", type=click.Choice(["heads", "lm"]), default="heads", show_default=True,
              help="Score with the classifier heads, or by asking the bundle's LM a verify "
                   "question per statement (diagnostic, rhythm, form; F1 at the LM's answer, "
                   "P(yes) 0.5, and at the bundle's lm-thresholds.json cuts when it has them).")
@click.option("--llm", default=None, help="With --via lm: the LM the projector was trained for.")
@device_option("cpu")
@format_option
@click.pass_context
def command(ctx: click.Context, ptbxl: Path | None, folds: str, model_name: str, leads: str,
            per_label: bool, limit: int | None, via: str, llm: str | None, device: str,
            fmt: str | None) -> None:
    """Evaluate a model bundle on PTB-XL: macro AUC, macro F1 and Fmax per label space."""
    if ctx.invoked_subcommand is not None:
        _refuse_options_before(ctx)
        return
    if llm is not None and via != "lm":
        raise click.UsageError("--llm names the LM that --via lm asks; the heads do not use it")
    if ptbxl is None:
        raise click.UsageError("--ptbxl is required (the PTB-XL folder to evaluate on)")
    from ecglm_cli.cli.common import parse_model_leads
    from ecglm_cli.cli.train import parse_folds
    from ecglm_cli.output import get_writer, resolve_format
    from ecglm_cli.pipeline.evaluate import evaluate_ptbxl

    if via == "lm" and per_label:  # it printed no per-statement rows
        raise click.UsageError("--per-label lists the classifier heads' statements; --via lm "
                               "reports each label space as a whole")
    lead_list = list(parse_model_leads(leads))
    fold_list = parse_folds(folds, "--fold")
    if via == "lm":
        from ecglm_cli.pipeline.lm_detect import evaluate_lm_detection

        result = evaluate_lm_detection(model_name, ptbxl, fold_list, lead_list, limit, llm,
                                       device=device)
    else:
        result = evaluate_ptbxl(model_name, ptbxl, fold_list, lead_list, limit, device)
    if result.skipped:
        click.echo(f"ecglm: skipped {len(result.skipped)} records (missing or unreadable)",
                   err=True)
    fmt = resolve_format(fmt)
    writer = get_writer(fmt)
    for row in result.spaces:
        writer.write({"leads": leads, **row})
    if per_label:
        if fmt == "table":  # a second table under its own header; CSV keeps one (union) header
            writer.close()
            sys.stdout.write("\n")
            writer = get_writer(fmt)
        for row in result.labels:
            writer.write({"leads": leads, **row})
    writer.close()


def _refuse_options_before(ctx: click.Context) -> None:
    """Options typed before a subcommand (`evaluate --model X qa ...`) belong to `evaluate`
    itself: they were ignored, and the default model scored as if it were X."""
    given = [param.opts[0] for param in ctx.command.params
             if ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE]
    if given:
        raise click.UsageError(
            f"{', '.join(given)} before `{ctx.invoked_subcommand}` would be ignored; put the "
            f"options of `{ctx.invoked_subcommand}` after it (ecglm evaluate "
            f"{ctx.invoked_subcommand} --help)")


@command.command("qa", epilog="""\b
Examples:
  ecglm evaluate qa --ecgqa ecgqa/ptbxl/paraphrased/test --ptbxl ptb-xl/
  ecglm evaluate qa --ecgqa questions.json --ptbxl ptb-xl/ --model runs/ecglm --limit 500
  ecglm evaluate qa --ecgqa test/ --ptbxl ptb-xl/ --by-template --predictions answers.jsonl
\b
Single-ECG questions are answered by the bundle's language model (greedy); the answer set is
compared with ECG-QA's by exact match, per question type. Questions whose ECG is not in --ptbxl
and comparison questions (two ECGs) are counted as skipped.
""")
@click.option("--ecgqa", type=click.Path(exists=True, path_type=Path), required=True,
              help="ECG-QA JSON file or folder (template/ or paraphrased/ layout).")
@click.option("--ptbxl", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="PTB-XL folder holding the records the questions refer to.")
@click.option("--model", "model_name", default="ecglm-base", show_default=True,
              help="Bundle directory or name.")
@click.option("--llm", default=None, help="The LM the bundle's projector was trained for.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Answer at most N questions.")
@device_option("cpu")
@click.option("--by-template", is_flag=True,
              help="Also report accuracy per ECG-QA template_id.")
@click.option("--predictions", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write every answer to this JSON-lines file as it is given (the file is "
              "replaced once the first answer is ready).")
@click.option("--resume", is_flag=True,
              help="With --predictions: keep the answers the file holds (from an interrupted "
              "run), score them, and ask only the other questions.")
@format_option
def qa(ecgqa: Path, ptbxl: Path, model_name: str, llm: str | None, limit: int | None,
       device: str, by_template: bool, predictions: Path | None, resume: bool,
       fmt: str | None) -> None:
    """Accuracy of the ECG language model on ECG-QA questions, per question type."""
    from ecglm_cli.data.ecgqa import mixed_sets
    from ecglm_cli.models.device import resolve_device
    from ecglm_cli.output import get_writer, resolve_format
    from ecglm_cli.pipeline.ask import Asker
    from ecglm_cli.pipeline.qa_eval import evaluate_qa, load_questions
    from ecglm_cli.progress import Progress

    if resume and predictions is None:
        raise click.UsageError("--resume continues the answers of --predictions FILE: give it")
    if predictions is not None and _is_question_file(predictions, ecgqa):
        raise click.BadParameter(f"{predictions} is one of the --ecgqa question files, or a "
                                 ".json file in their folder: the answers written there would "
                                 "replace the questions, or be read as questions",
                                 param_hint="--predictions")
    loaded = load_questions(ecgqa, ptbxl, limit)
    mixed = mixed_sets(ecgqa)
    if mixed:
        click.echo(f"ecglm: note: {ecgqa} mixes {mixed}, all scored together", err=True)
    known, kept = _earlier_answers(predictions, loaded.questions) if resume else ({}, None)
    with _answer_log(predictions, kept) as on_answer:  # checked first: fails at once
        asker = Asker(model_name, llm, str(resolve_device(device)))
        progress = Progress(len(loaded.questions), label="ecglm evaluate qa: ")
        try:
            result = evaluate_qa(asker, loaded, ptbxl, progress=progress.update,
                                 on_answer=on_answer, known=known)
        finally:
            progress.close()
    click.echo(
        f"ecglm: skipped {result['skipped_absent']} questions whose ECG is absent from {ptbxl}, "
        f"{result['skipped_comparison']} comparison questions, "
        f"{result['skipped_unreadable']} with an unreadable record, "
        f"{result['skipped_too_long']} too long for the language model", err=True,
    )
    if not result["n"]:
        raise RecordError(ecgqa, "no single-ECG question could be scored (see the counts "
                          "above): nothing to report")
    skipped = ["skipped_absent", "skipped_comparison", "skipped_unreadable", "skipped_too_long"]
    columns = ["question_type", "questions", "correct", "accuracy", *skipped]
    writer = get_writer(resolve_format(fmt), columns=(
        ["template_id", *columns] if by_template else columns))
    if by_template:
        for template_id, figures in result["per_template"].items():
            writer.write({"template_id": template_id, "question_type": figures["question_type"],
                          "questions": figures["n"], "correct": figures["correct"],
                          "accuracy": figures["accuracy"]})
    for kind, figures in result["per_type"].items():
        writer.write({"question_type": kind, "questions": figures["n"],
                      "correct": figures["correct"], "accuracy": figures["accuracy"]})
    writer.write({"question_type": "all", "questions": result["n"], "correct": result["correct"],
                  "accuracy": result["accuracy"], **{key: result[key] for key in skipped}})
    writer.close()


def _is_question_file(predictions: Path, ecgqa: Path) -> bool:
    """One of the question files, or a `.json` file in their folder: the next run would read
    the answers written there as questions."""
    from ecglm_cli.data.ecgqa import json_files

    target = predictions.resolve()
    if ecgqa.is_dir() and target.suffix == ".json" and ecgqa.resolve() in target.parents:
        return True
    return any(target == file.resolve() for file in json_files(ecgqa))


def _earlier_answers(path: Path, questions: list[dict]) -> tuple[dict, list[str]]:
    """The answers an interrupted run wrote to `path`, by `answer_key`, and its lines to keep.
    A torn last line (the run was killed while writing it: no line end, and the start of an
    answer) is left out, and so dropped when the file is written again. Any other line that is
    not an answer to one of these questions makes the file someone else's, and it is refused."""
    import json

    from ecglm_cli.pipeline.qa_eval import answer_key

    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"{path}: cannot be read ({exc})",
                                 param_hint="--predictions") from None
    # "\n" only: str.splitlines also breaks at U+2028 and U+0085, which a question may hold
    lines = text.split("\n")
    if lines[-1] == "":  # the end of the last line (or of an empty file)
        lines.pop()
    torn = bool(lines) and not text.endswith("\n") and lines[-1].startswith('{"sample_id":')
    asked = {answer_key(q) for q in questions}
    known, kept = {}, []
    for number, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
            predicted = row["predicted"]
            if not (isinstance(predicted, list) and all(isinstance(a, str) for a in predicted)):
                raise TypeError("predicted is not a list of answers")
            key = answer_key(row)
        except (ValueError, KeyError, TypeError, AttributeError):
            if torn and number == len(lines):
                continue
            raise click.BadParameter(f"{path}: line {number} is not an answer written by "
                                     "evaluate qa", param_hint="--predictions") from None
        if key not in asked:
            raise click.BadParameter(f"{path}: line {number} answers a question that is not "
                                     f"in these questions (sample_id {row.get('sample_id')!r})",
                                     param_hint="--predictions")
        known[key] = predicted
        kept.append(line + "\n")
    return known, kept


@contextmanager
def _answer_log(path: Path | None, kept: list[str] | None = None
                ) -> Iterator[Callable[[dict, list[str]], None] | None]:
    """A callback writing each answer as one JSON line to `path` (line-buffered), or None.

    The file is checked at once but replaced only when the first answer is ready, so a rerun
    stopped before then leaves the earlier answers; `kept` lines (a resumed run's) are what
    it then holds before the new answers."""
    from ecglm_cli.data.ecgqa import is_correct
    from ecglm_cli.output import to_json_line

    if path is None:
        yield None
        return
    created = not path.exists()
    try:
        path.open("a", encoding="utf-8").close()
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror}", param_hint="--predictions") from None
    opened: list = []

    def on_answer(question: dict, predicted: list[str]) -> None:
        if not opened:
            if kept is not None:  # the kept answers, without a torn line, in one step
                partial = path.with_name(f".{path.name}.partial")
                partial.write_text("".join(kept), encoding="utf-8")
                partial.replace(path)
            opened.append(path.open("w" if kept is None else "a", encoding="utf-8",
                                    buffering=1))
        stream = opened[0]
        stream.write(to_json_line({
            "sample_id": question.get("sample_id"), "template_id": question["template_id"],
            "question_type": question["question_type"], "ecg_id": question["ecg_id"],
            "question": question["question"], "answer": question["answer"],
            "predicted": predicted,
            "correct": is_correct(predicted, question["answer"]),
        }) + "\n")

    try:
        yield on_answer
    finally:
        for stream in opened:
            stream.close()
        if created and not opened:  # the run failed before its first answer: leave no file
            path.unlink(missing_ok=True)
