"""Where a training run may write: never into a model shipped with ecglm or into the cache.

`train align`/`instruct` and `train lm-thresholds` write into the bundle they read unless told
otherwise, and that bundle defaults to the built-in `ecglm-base`, which lives inside the
installed package: a quick test run would silently replace the model every command uses.
A downloaded model is checked against its manifest, so writing into it breaks
`download --verify`. The maintainers' scripts train into runs/ and copy the result into the
package, so nothing legitimate writes to either place directly.

OUT is also refused, before any record is read, when it cannot be written or holds a run that
starting afresh would train over: found later, after the data was loaded or an epoch trained,
either cost minutes to hours.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ecglm_cli.errors import EXIT_USAGE, ECGLMError


class OutputError(ECGLMError):
    """A training output that would overwrite a shipped or downloaded model (exit 2, usage)."""

    exit_code = EXIT_USAGE


class EarlierRunError(OutputError):
    """OUT holds a training run that starting afresh would train over, appending a second run
    to its metrics (a re-queued job that forgot --resume); `--resume` continues it."""

    def __init__(self, out: Path, run: str):
        super().__init__(f"{out}: holds {run}; pass --resume to continue it, or --out a new "
                         "folder")


def _protected() -> list[tuple[str, Path]]:
    """(what, folder) for every built-in bundle and for the models in the download cache."""
    from ecglm_cli.cache.registry import load_registry
    from ecglm_cli.cache.store import cache_root

    places = [(f"the built-in model {entry.name}", entry.builtin_path)
              for entry in load_registry().values() if entry.source == "builtin"]
    models = cache_root() / "models"
    places.append((f"a downloaded model in the model cache ({models})", models))
    return places


def check_output(folder: Path, hint: str) -> Path:
    """`folder`, created, when training may and can write there; an OutputError naming the
    model it would overwrite otherwise. `hint` says what `--out DIR` would get instead.

    A file in its place, or a folder that cannot be written (read-only disk, no permission, a
    file in the path), is refused here, before any record is read: it surfaced after all data
    was loaded or a whole epoch trained, as a bare OSError or SafetensorError."""
    target = Path(folder).expanduser().resolve()
    for what, root in _protected():
        root = root.expanduser().resolve()
        if target == root or root in target.parents:
            raise OutputError(
                f"{folder}: training would overwrite {what}; pass --out DIR to write {hint} "
                "to a folder of your own"
            )
    try:
        if target.exists() and not target.is_dir():
            raise OutputError(f"{folder}: exists and is not a folder; pass --out DIR to write "
                              f"{hint} to a folder")
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target, prefix=".ecglm-write-test-"):
            pass
    except OSError as exc:
        raise ECGLMError(f"{folder}: cannot write there ({exc.strerror or exc})") from None
    return Path(folder)


def run_output(out: Path | None, bundle: str, hint: str) -> Path:
    """Where a run that reads `bundle` writes: `--out`, else the bundle itself; checked."""
    from ecglm_cli.models.bundle import resolve_bundle_dir

    return check_output(out if out is not None else resolve_bundle_dir(bundle), hint)
