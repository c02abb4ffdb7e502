"""The texts each LM training stage learns from, drawn from the knowledge dataset builder.

`align` learns reports and explanatory answers (descriptions grounded in the guideline
criteria). `instruct` learns ECG-QA questions with their exact answer strings (the target is the
answer set alone, joined by `ANSWER_SEPARATOR`, so greedy output parses back into the set), plus
reports for "describe" requests, explanations when a question asks for one, and "cannot be
determined" answers. Official ECG-QA JSON can be added for records of the training folds. The
tokenizer corpus holds every text of both stages and the knowledge base, so either stage can
create the compact LM.

With `options.measured` every record is measured (`features.measure`): the LM reads the values
in its prompt (`contexts`), and the texts cite them and ask about them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import click

from ecglm_cli.data.ecgqa import SINGLE_TYPES, load_ecgqa
from ecglm_cli.data.ptbxl import PTBXL, DatasetError
from ecglm_cli.data.ptbxl_table import read_label_rows
from ecglm_cli.errors import RecordError
from ecglm_cli.knowledge.dataset import ecgqa_items, record_items
from ecglm_cli.knowledge.statements import load_statements
from ecglm_cli.knowledge.synthesize import reword
from ecglm_cli.knowledge.templates import load_templates
from ecglm_cli.train.lm_data import QAExample, answer_text
from ecglm_cli.train.options import skipped_summary, unknown_codes_warning

EXPLAIN_SUFFIX = " Explain."
EXPLAINED_PER_RECORD = 2


@dataclass
class StageTexts:
    train: list[QAExample] = field(default_factory=list)
    val: list[QAExample] = field(default_factory=list)
    corpus: list[str] = field(default_factory=list)
    contexts: dict[int, str] = field(default_factory=dict)  # ecg_id -> measured-values line


def _examples(items: list[dict], stage: str, rng: random.Random,
              reworded: bool = False) -> list[QAExample]:
    """Stage examples from one record's dataset items; `reworded`: with questions typed in
    other ways now and then (`synthesize.reword`), for training."""
    if reworded:
        items = [{**i, "question": reword(i["question"], rng)} for i in items]
    qa = [i for i in items if i["kind"] == "qa"]
    explained = [QAExample(i["ecg_id"], i["question"] + EXPLAIN_SUFFIX, i["answer_text"],
                           "explain") for i in rng.sample(qa, k=min(len(qa), EXPLAINED_PER_RECORD))]
    other = [QAExample(i["ecg_id"], i["question"], i["answer_text"], i["kind"])
             for i in items if i["kind"] != "qa"]  # reports, unanswerables, measured values
    if stage == "align":
        return [e for e in other if e.question_type == "report"] * 2 + explained
    exact = [QAExample(i["ecg_id"], i["question"], answer_text(i["answer"]), i["question_type"])
             for i in qa]
    reports = [e for e in other if e.question_type == "report"]
    return exact + other + reports + explained  # reports twice: long texts, one per record


def _measure(ptbxl: PTBXL, entry, contexts: dict[int, str]) -> dict | None:
    """The record's measured values (None when it cannot be read); its prompt line in
    `contexts`."""
    from ecglm_cli.pipeline.ecg_features import measured_values

    try:
        measurements, contexts[entry.ecg_id] = measured_values(ptbxl.record(entry))
    except RecordError:
        return None  # feature precomputation skips the record as well
    return measurements


def build_texts(options) -> StageTexts:
    """Training and validation texts for `options.stage` over the configured folds."""
    ptbxl = PTBXL(options.ptbxl)
    rows = read_label_rows(ptbxl.root)
    templates = load_templates()
    result = StageTexts()
    for split, folds in (("train", options.train_folds), ("val", options.val_folds)):
        rng = random.Random(f"{options.seed}-{split}")
        entries = ptbxl.select(folds, options.limit)
        if warning := unknown_codes_warning(ptbxl.unknown_codes(entries)):
            click.echo(warning, err=True)
        if not entries and (split == "train" or options.val_questions):
            raise DatasetError(ptbxl.root, f"no records in the {split} folds "
                                           f"{','.join(map(str, folds))}")
        if options.measured:
            click.echo(f"[train {options.stage}] measuring {len(entries)} {split} records",
                       err=True)
        for entry in entries:
            measurements = _measure(ptbxl, entry, result.contexts) if options.measured else None
            items = record_items(rows[entry.ecg_id], seed=options.seed, templates=templates,
                                 measurements=measurements,
                                 questions_per_template=options.draws if split == "train"
                                 else 1)
            examples = _examples(items, options.stage, rng, reworded=split == "train")
            if split == "train":
                result.train += examples
                result.corpus += [f"{i['question']} {i['answer_text']}" for i in items]
            else:
                wanted = ("report",) if options.stage == "align" else (*SINGLE_TYPES,
                                                                       "measurement")
                result.val += [e for e in examples if e.question_type in wanted]
        rng.shuffle(result.val)
    if ptbxl.skipped:  # missing records the selection passed over
        click.echo(f"[train {options.stage}] {skipped_summary(ptbxl.skipped)}", err=True)
    train_ids = {e.ecg_id for e in result.train}
    for path in options.ecgqa:
        loaded = load_ecgqa(path, single_only=True, ptbxl_dir=ptbxl.root)
        used = [QAExample(i["ecg_id"], i["question"], answer_text(i["answer"]),
                          i["question_type"])
                for i in ecgqa_items(loaded.questions) if i["ecg_id"] in train_ids]
        result.train += used
        # questions about other records were dropped without a word
        click.echo(f"[train {options.stage}] {path}: {len(used)} ECG-QA questions used; left "
                   f"out {len(loaded.questions) - len(used)} about records outside the "
                   f"training folds, {loaded.skipped_absent} about records not in "
                   f"{ptbxl.root}, {loaded.skipped_type} comparing two ECGs", err=True)
    result.corpus += [f"{s.name}. {s.ecgqa_name or ''}. {s.criteria}"
                      for s in load_statements().values()]
    result.corpus += [" ".join(t.answers) for t in templates.values()]
    return result
