"""The bundles shipped inside the package: each one the registry lists loads, scores the
package's example record through the real CLI, and says what it cannot do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import ecglm_cli
from ecglm_cli.cache.registry import load_registry
from ecglm_cli.cli.main import cli
from ecglm_cli.models.bundle import load_bundle

EXAMPLE = Path(ecglm_cli.__file__).parent / "examples" / "example_12lead.hea"
BUILTIN = sorted(name for name, entry in load_registry().items()
                 if entry.source == "builtin" and entry.kind == "ecg-bundle")


def test_both_classifiers_are_shipped():
    assert BUILTIN == ["ecglm-base", "ecglm-small"]


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_bundle_scores_the_example_record(name):
    bundle = load_bundle(name)
    assert set(bundle.label_spaces) == {"all", "diagnostic", "subdiagnostic", "superdiagnostic",
                                        "form", "rhythm"}
    result = CliRunner().invoke(cli, ["classify", str(EXAMPLE), "--model", name,
                                      "--format", "json", "--no-measurements"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["model"] == name
    superclass = row["probabilities"]["superdiagnostic"]
    assert max(superclass, key=superclass.get) == "NORM"  # the example is a normal ECG


def test_small_bundle_is_smaller_and_has_no_language_model():
    base, small = load_bundle("ecglm-base"), load_bundle("ecglm-small")
    count = lambda b: sum(p.numel() for p in b.model.parameters())  # noqa: E731
    assert count(small) < count(base) / 3
    result = subprocess.run(
        [sys.executable, "-m", "ecglm_cli", "ask", str(EXAMPLE), "What rhythm is this?",
         "--model", "ecglm-small"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "has no language model" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
