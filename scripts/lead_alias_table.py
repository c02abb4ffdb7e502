"""Print the lead alias table of docs/formats.md from ecglm_cli/io/leads.py (the one source).

Run `python scripts/lead_alias_table.py` and paste the output between the markers in
docs/formats.md; tests/test_formats_doc.py fails when the two drift apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecglm_cli.io.leads import alias_table  # noqa: E402


def markdown() -> str:
    rows = ["| Lead | Standard | Accepted spellings (after normalising) |", "|---|---|---|"]
    for lead, (standard, spellings) in alias_table().items():
        names = ", ".join(f"`{s}`" for s in sorted(spellings))
        rows.append(f"| {lead} | {'yes' if standard else 'no'} | {names} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown())
