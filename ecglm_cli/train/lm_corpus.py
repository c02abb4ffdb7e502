"""The texts each LM training stage learns from, drawn from the knowledge synthesizer.

`align` learns reports and explanatory answers (descriptions grounded in the guideline
criteria); `instruct` learns ECG-QA questions with their exact answer strings, plus reports for
"describe" requests and "cannot be determined" answers for questions an ECG cannot answer.
Official ECG-QA JSON can be added for records of the training folds. The tokenizer corpus holds
every text of both stages and the knowledge base, so either stage can create the compact LM.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ecglm_cli.data.ecgqa import load_ecgqa
from ecglm_cli.data.ptbxl import PTBXL
from ecglm_cli.data.ptbxl_table import read_database
from ecglm_cli.knowledge.statements import load_statements
from ecglm_cli.knowledge.synthesize import (
    explain,
    report,
    synthesize_qa,
    unanswerable_questions,
)
from ecglm_cli.knowledge.templates import load_templates
from ecglm_cli.train.lm_data import QAExample, answer_text

DESCRIBE = (
    "Describe this ECG.", "Write a short report of this ECG.", "What does this ECG show?",
    "Summarise the findings of this ECG.", "Interpret this ECG.",
)


@dataclass
class StageTexts:
    train: list[QAExample] = field(default_factory=list)
    val: list[QAExample] = field(default_factory=list)
    corpus: list[str] = field(default_factory=list)


def _record_texts(row: dict, draws: int, rng: random.Random, templates) -> dict[str, list]:
    ecg_id = int(row["ecg_id"])
    qa = synthesize_qa(row, templates=templates, rng=rng, per_template=draws)
    exact = [QAExample(ecg_id, q["question"], answer_text(q["answer"]), q["question_type"])
             for q in qa]
    described = report(row)
    reports = [QAExample(ecg_id, rng.choice(DESCRIBE), described, "report")]
    explained = [QAExample(ecg_id, q["question"] + " Explain.", explain(q, row), "explain")
                 for q in rng.sample(qa, k=min(len(qa), 4))]
    declined = [QAExample(ecg_id, q, a, "unanswerable")
                for q, a in unanswerable_questions(rng, 1)]
    return {"exact": exact, "reports": reports, "explained": explained, "declined": declined}


def _stage_examples(stage: str, texts: dict[str, list]) -> list[QAExample]:
    if stage == "align":
        return texts["reports"] * 3 + texts["explained"]
    return texts["exact"] + texts["reports"] + texts["declined"] + texts["explained"][:1]


def build_texts(options, draws: int | None = None) -> StageTexts:
    """Training and validation texts for `options.stage` over the configured folds."""
    draws = draws or 2
    ptbxl = PTBXL(options.ptbxl)
    rows = read_database(ptbxl.root / "ptbxl_database.csv")
    templates = load_templates()
    result = StageTexts()
    for split, folds in (("train", options.train_folds), ("val", options.val_folds)):
        rng = random.Random(f"{options.seed}-{split}")
        for entry in ptbxl.select(folds, options.limit):
            texts = _record_texts(rows[entry.ecg_id], draws if split == "train" else 1, rng,
                                  templates)
            if split == "train":
                result.corpus += [f"{e.question} {e.answer}" for kind in texts.values()
                                  for e in kind]
                result.train += _stage_examples(options.stage, texts)
            else:
                result.val += texts["exact"] if options.stage == "instruct" else texts["reports"]
        rng.shuffle(result.val)
    train_ids = {e.ecg_id for e in result.train}
    for path in options.ecgqa:
        for q in load_ecgqa(path, single_only=True, ptbxl_dir=ptbxl.root).questions:
            if q["ecg_id"][0] in train_ids:
                result.train.append(QAExample(q["ecg_id"][0], q["question"],
                                              answer_text(q["answer"]), q["question_type"]))
    result.corpus += [f"{s.name}. {s.ecgqa_name or ''}. {s.criteria}"
                      for s in load_statements().values()]
    result.corpus += [" ".join(t.answers) for t in templates.values()]
    return result
