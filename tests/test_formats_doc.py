"""docs/formats.md carries the lead alias table generated from ecglm_cli/io/leads.py."""

from __future__ import annotations

import runpy

from conftest import REPO


def test_alias_table_in_docs_matches_the_code():
    markdown = runpy.run_path(str(REPO / "scripts" / "lead_alias_table.py"))["markdown"]
    doc = (REPO / "docs" / "formats.md").read_text()
    start, end = "<!-- lead-alias-table:start -->", "<!-- lead-alias-table:end -->"
    inside = doc.split(start)[1].split(end)[0]
    assert inside.strip() == markdown().strip()


def test_no_spelling_is_listed_under_two_leads():
    """`ml2` was listed under II and as a lead of its own, ML2, which it never became."""
    from collections import Counter

    from ecglm_cli.io.leads import alias_table

    counts = Counter(s for _, spellings in alias_table().values() for s in spellings)
    assert [s for s, n in counts.items() if n > 1] == []
