"""The guideline knowledge base: every PTB-XL statement, with criteria and a source."""

from __future__ import annotations

import csv

from ecglm_cli.knowledge.statements import by_ecgqa_name, load_statements
from ecglm_cli.knowledge.templates import packaged_templates


def test_all_71_statements_have_name_criteria_and_source():
    statements = load_statements()
    assert len(statements) == 71
    for code, statement in statements.items():
        assert statement.code == code
        assert statement.name.strip()
        assert len(statement.criteria) > 40, code
        assert statement.source.strip(), code
        assert statement.families, f"{code} has no diagnostic/form/rhythm category"


def test_ecgqa_names_are_ecgqa_answer_classes():
    classes = {a for t in packaged_templates().values() for a in t.answers}
    names = by_ecgqa_name()
    assert len(names) == 59
    assert set(names) <= classes


def test_categories_match_ptbxl_statement_table(shared_data):
    table = shared_data / "ptbxl" / "scp_statements.csv"
    with open(table, newline="") as handle:
        rows = {r[""]: r for r in csv.DictReader(handle)}
    statements = load_statements()
    assert set(rows) == set(statements)
    for code, r in rows.items():
        category = statements[code].category
        assert category["diagnostic"] == bool(r["diagnostic"]), code
        assert category["form"] == bool(r["form"]), code
        assert category["rhythm"] == bool(r["rhythm"]), code
        assert (category["diagnostic_class"] or "") == r["diagnostic_class"], code
        assert (category["diagnostic_subclass"] or "") == r["diagnostic_subclass"], code


def test_questions_name_statements_the_way_clinicians_write_them():
    """`ask --format json` gives the head probabilities of the statements a question names. "ST
    elevation" named none (the statement is "non-specific ST elevation"), and a name inside a
    longer one counted too."""
    from ecglm_cli.pipeline.ask import named_statements

    assert named_statements("Is there ST elevation in V2?") == ["STE_"]
    assert sorted(named_statements("Any T wave inversion or LBBB?")) == ["CLBBB", "INVT"]
    assert named_statements("Is there incomplete left bundle branch block?") == ["ILBBB"]
    assert named_statements("Is there LVH?") == ["LVH"]
    assert named_statements("Does the patient have a pacemaker?") == ["PACE"]  # not PAC
    assert named_statements("Is this ECG normal?") == ["NORM"]
