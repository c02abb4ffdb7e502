"""`ecglm download`: fetch, list, verify and remove cached models."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ecglm_cli.cli.common import format_option
from ecglm_cli.errors import ModelError
from ecglm_cli.output import resolve_format, write_all

if TYPE_CHECKING:
    from ecglm_cli.cache.spec import ModelSpec
    from ecglm_cli.cache.store import Store

EPILOG = """\b
Examples:
  ecglm download qwen2.5-0.5b-instruct          a registry model (pinned revision)
  ecglm download HuggingFaceTB/SmolLM2-360M-Instruct@main
  ecglm download https://example.org/b.tar.gz --sha256 9f86d0...   a bundle archive
  ecglm download --list --format json           what is known and what is cached
  ecglm download --verify                       re-hash every cached file
  ecglm download --remove qwen2.5-0.5b-instruct

The path of the model is printed on stdout. Cache: --cache-dir, else $ECGLM_CACHE_DIR, else the
user cache folder. Offline (ECGLM_OFFLINE=1 or HF_HUB_OFFLINE=1) only the cache is used and a
missing model exits with code 4. See docs/models.md.
"""

LIST_COLUMNS = ["name", "kind", "size", "source", "licence", "cached"]
VERIFY_COLUMNS = ["name", "revision", "files", "status", "problems"]


@click.command("download", epilog=EPILOG)
@click.argument("name", required=False)
@click.option("--sha256", default=None, help="Expected sha256 of a URL bundle archive (required).")
@click.option("--revision", default=None, help="Hub revision (branch, tag or commit).")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Cache folder (default: $ECGLM_CACHE_DIR or the user cache folder).")
@click.option("--endpoint", default=None,
              help="Hugging Face Hub endpoint (default: $HF_ENDPOINT or https://huggingface.co).")
@click.option("--list", "list_", is_flag=True, help="List registry and cached models.")
@click.option("--verify", is_flag=True, help="Re-hash cached files (NAME, or all).")
@click.option("--remove", is_flag=True, help="Delete NAME from the cache.")
@format_option
def command(name: str | None, sha256: str | None, revision: str | None, cache_dir: str | None,
            endpoint: str | None, list_: bool, verify: bool, remove: bool,
            fmt: str | None) -> None:
    """Fetch a model into the local cache and print where it is.

    NAME is a registry name (see --list), a Hugging Face repo id (owner/name[@revision]) or an
    http(s) URL of a bundle archive (.tar.gz, .tgz, .zip) together with --sha256.
    """
    from ecglm_cli.cache.spec import parse_spec
    from ecglm_cli.cache.store import Store

    if sum((list_, verify, remove)) > 1:
        raise click.UsageError("use only one of --list, --verify and --remove")
    if list_ and name:  # it was ignored, and every model listed
        raise click.UsageError("--list takes no NAME (it lists every model); --verify NAME "
                               "checks one")
    store = Store.open(cache_dir)
    if list_:
        from ecglm_cli.cache.inventory import list_rows

        _write(list_rows(store), fmt, LIST_COLUMNS)
        return
    if verify:
        _verify(parse_spec(name, revision) if name else None, store, fmt)
        return
    if not name:
        raise click.UsageError("missing NAME (or use --list / --verify)")
    spec = parse_spec(name, revision, sha256)
    if sha256 and not spec.url:
        raise click.UsageError("--sha256 is only for a bundle archive URL")
    if spec.url and (revision or endpoint):
        raise click.UsageError("--revision and --endpoint are only for Hugging Face models")
    if remove:
        _remove(spec, store)
        return
    from ecglm_cli.cache.fetch import fetch

    fetched = fetch(spec, cache_dir, endpoint)
    state = "already cached" if fetched.already_cached else "downloaded"
    click.echo(f"{state}: use it as --model/--llm {fetched.name}", err=True)
    click.echo(str(fetched.path))


def _write(rows: list[dict], fmt: str | None, columns: list[str]) -> None:
    fmt = resolve_format(fmt)
    if fmt in ("table", "csv"):
        rows = [{**r, "cached": "yes" if r.get("cached") else "no"} if "cached" in r else r
                for r in rows]
    write_all(rows, fmt, columns if fmt == "table" else None)


def _verify(spec: ModelSpec | None, store: Store, fmt: str | None) -> None:
    from ecglm_cli.cache.inventory import damaged_rows, matching, verify_rows

    entries = matching(spec, store) if spec else store.all()
    damaged = store.damaged(spec.cache_name, spec.revision) if spec else store.damaged()
    if spec and not entries and not damaged:
        raise ModelError(f"{spec.text} is not in the cache at {store.root}")
    rows = verify_rows(entries) + damaged_rows(damaged)
    _write(rows, fmt, VERIFY_COLUMNS)
    bad = [r for r in rows if r["status"] != "ok"]
    if bad:
        raise ModelError(
            f"{len(bad)} cached model(s) failed verification; run `ecglm download --remove NAME` "
            "and download again"
        )
    if not rows:
        click.echo(f"nothing cached in {store.root}", err=True)


def _remove(spec: ModelSpec, store: Store) -> None:
    from ecglm_cli.cache.inventory import matching

    entries = matching(spec, store)
    damaged = store.damaged(spec.cache_name, spec.revision)
    if not entries and not damaged:
        raise ModelError(f"{spec.text} is not in the cache at {store.root}")
    with store.lock(spec.cache_name):
        for folder, label in [*((e.folder, f"{e.name}@{e.revision}") for e in entries),
                              *((f, f"{f.parent.name}/{f.name} (no valid manifest)")
                                for f in damaged)]:
            store.remove(folder)
            click.echo(f"removed {label}", err=True)
            click.echo(str(folder))
