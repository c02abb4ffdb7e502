"""Training items from PTB-XL rows: folds, kinds, determinism; template derivation."""

from __future__ import annotations

import json

from knowledge_fixtures import row, write_ptbxl

from ecglm_cli.data.ecgqa import load_ecgqa
from ecglm_cli.knowledge.dataset import build_splits, build_training_set, ecgqa_items
from ecglm_cli.knowledge.templates import derive_templates, packaged_templates

ROWS = [
    row(1, {"NORM": 100.0, "SR": 0.0}, fold=1),
    row(2, {"AFIB": 0.0, "LVH": 100.0}, fold=2, heart_axis="LAD", burst_noise="v1-2"),
    row(3, {"CLBBB": 100.0, "SR": 0.0}, fold=9, extra_beats="SVES"),
    row(4, {"IMI": 100.0, "SR": 0.0}, fold=8, infarction_stadium1="Stadium III"),
]


def test_splits_follow_folds_and_cover_all_kinds(tmp_path):
    root = write_ptbxl(tmp_path / "ptbxl", ROWS, with_signal={1, 2, 3})
    splits = build_splits(root, seed=5)
    assert {i["ecg_id"] for i in splits["train"]} == {1, 2}  # 4 has no local record
    assert {i["ecg_id"] for i in splits["val"]} == {3}
    kinds = {i["kind"] for i in splits["train"]}
    assert kinds == {"qa", "report", "unanswerable"}
    for item in splits["train"]:
        assert set(item) == {"ecg_id", "question", "answer_text", "answer", "question_type",
                             "kind", "template_id"}
        if item["kind"] == "qa":
            assert item["answer_text"].startswith("; ".join(item["answer"]))
    afib = [i for i in splits["train"] if i["ecg_id"] == 2 and i["template_id"] == 10]
    assert afib and afib[0]["answer"] == ["atrial fibrillation"]
    everything = build_training_set(root, range(1, 10), require_signal=False)
    assert {i["ecg_id"] for i in everything} == {1, 2, 3, 4}


def test_deterministic_with_seed(tmp_path):
    root = write_ptbxl(tmp_path / "ptbxl", ROWS)
    first = build_training_set(root, seed=11)
    assert first == build_training_set(root, seed=11)
    assert first != build_training_set(root, seed=12)


def test_templates_derived_from_an_ecgqa_folder(tmp_path):
    root = tmp_path / "ecgqa"
    for folder, wording in (("template", "Does this ECG show {a} in lead {l}?"),
                            ("paraphrased", "Is {a} visible in lead {l} of this ECG?")):
        (root / folder / "train").mkdir(parents=True)
        records = [
            {"template_id": 26, "question_id": i, "sample_id": i, "question_type": "single-verify",
             "attribute_type": "noise", "question": wording.format(a=a, l=lead),
             "answer": ["no"], "ecg_id": [i + 1], "attribute": [a]}
            for i, (a, lead) in enumerate([("static noise", "V1"), ("burst noise", "aVL")])
        ]
        (root / folder / "train" / "00000.json").write_text(json.dumps(records))
    derived = derive_templates(root)
    assert derived[26].template == "Does this ECG show ${attribute} in ${lead}?"
    assert derived[26].paraphrases == ("Is ${attribute} visible in ${lead} of this ECG?",)
    assert derived[1] == packaged_templates()[1]  # ids absent from the folder stay packaged
    items = ecgqa_items(load_ecgqa(root / "template").questions)
    assert items[0]["answer"] == ["no"] and items[0]["kind"] == "qa"


def test_shared_ecgqa_wordings_match_packaged(shared_data):
    derived = derive_templates(shared_data / "ecgqa" / "ptbxl")
    packaged = packaged_templates()
    for template_id in (26, 27, 28):
        assert derived[template_id].template == packaged[template_id].template
        assert derived[template_id].answers == packaged[template_id].answers
        assert len(derived[template_id].paraphrases) >= 5
