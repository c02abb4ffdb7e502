"""Print a bundle's validation figures as Markdown tables for docs/model-card.md.

Usage: python scripts/model_card_figures.py [BUNDLE]   (default: the shipped ecglm-base)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecglm_cli.models.bundle import load_bundle  # noqa: E402


def main() -> None:
    bundle = load_bundle(sys.argv[1] if len(sys.argv) > 1 else "ecglm-base")
    lead_sets = bundle.metrics.get("lead_sets", {})
    prov = bundle.provenance
    print(f"Trained on folds {prov.get('train_folds')} ({prov.get('train_records')} records), "
          f"validated on folds {prov.get('val_folds')} ({prov.get('val_records')} records), "
          f"{prov.get('epochs')} epochs, seed {prov.get('seed')}, device {prov.get('device')}, "
          f"commit {prov.get('git_commit')}.\n")
    for name, spaces in lead_sets.items():
        print(f"### Lead set: {name}\n")
        print("| label space | records | macro AUC | macro F1 | Fmax |")
        print("|---|---|---|---|---|")
        for space, m in spaces.items():
            print(f"| {space} | {m['records']} | {m['macro_auc']:.3f} | {m['macro_f1']:.3f} "
                  f"| {m['fmax']:.3f} |")
        print()
    if "12" in lead_sets:
        ref = lead_sets["12"]["superdiagnostic"]["macro_auc"]
        for name, spaces in lead_sets.items():
            gap = ref - spaces["superdiagnostic"]["macro_auc"]
            print(f"- superdiagnostic AUC gap to 12 leads, {name}: {gap:+.3f}")


if __name__ == "__main__":
    main()
