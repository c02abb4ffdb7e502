"""The cache store, registry and resolver without a network: layout, verify, remove, bounds."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from ecglm_cli.cache import resolve
from ecglm_cli.cache.archive import safe_extract
from ecglm_cli.cache.registry import KINDS, get_entry, load_registry
from ecglm_cli.cache.store import FILES, Store, cache_root, verify
from ecglm_cli.cli.main import cli
from ecglm_cli.errors import DownloadError, ModelError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("ECGLM_OFFLINE", "HF_HUB_OFFLINE", "ECGLM_CACHE_DIR"):
        monkeypatch.delenv(var, raising=False)


def cached_bundle(store: Store, name: str = "mybundle") -> Path:
    """Install a small bundle the way a download does: staging folder, manifest, rename."""
    staging = store.staging_dir(name)
    top = staging / FILES / name
    top.mkdir(parents=True)
    (top / "config.json").write_text('{"encoder": "resnet18-1d"}')
    (top / "encoder.safetensors").write_bytes(os.urandom(1000))
    with store.lock(name):
        entry = store.install(staging, name, "sha256-0123456789abcdef",
                              {"kind": "ecg-bundle", "source": "url", "url": "x", "root": name})
    return entry.path


def test_cache_location_precedence(tmp_path, monkeypatch):
    import platformdirs

    assert cache_root() == Path(platformdirs.user_cache_dir("ecglm"))
    monkeypatch.setenv("ECGLM_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "option") == tmp_path / "option"


def test_registry_entries_are_pinned_and_licensed():
    registry = load_registry()
    assert {"ecglm-base", "qwen2.5-0.5b-instruct", "smollm2-360m-instruct",
            "biomedgpt-lm-7b"} <= set(registry)
    for entry in registry.values():
        assert entry.kind in KINDS and entry.licence
        if entry.source == "hf":
            assert len(entry.revision) == 40 and int(entry.revision, 16) >= 0
            assert entry.repo_id and entry.size_bytes
    assert get_entry("Qwen2.5-0.5B-Instruct").repo_id == "Qwen/Qwen2.5-0.5B-Instruct"


def test_resolve_paths_names_and_kinds(tmp_path):
    folder = tmp_path / "my-bundle"
    folder.mkdir()
    assert resolve(folder) == folder
    assert resolve(str(folder), kind="llm") == folder  # a path is the user's call
    with pytest.raises(ModelError, match="no such file or folder"):
        resolve(str(tmp_path / "absent"))
    with pytest.raises(ModelError, match="no such file or folder"):
        resolve("./absent-bundle")
    with pytest.raises(ModelError, match="is an ECG bundle, not a language model"):
        resolve("ecglm-base", kind="llm")
    with pytest.raises(ModelError, match="is a language model, not an ECG bundle"):
        resolve("qwen2.5-0.5b-instruct", kind="ecg-bundle")
    with pytest.raises(ModelError, match="unknown model"):
        resolve("not a model!")
    builtin = get_entry("ecglm-base").builtin_path
    if builtin.is_dir():
        assert resolve("ecglm-base", kind="ecg-bundle") == builtin
    else:
        with pytest.raises(ModelError, match="missing from this installation"):
            resolve("ecglm-base")


def test_resolve_finds_a_cached_bundle_folder(tmp_path):
    store = Store(tmp_path)
    path = cached_bundle(store)
    assert resolve("mybundle", kind="ecg-bundle", cache_dir=tmp_path) == path
    assert path.name == "mybundle" and (path / "config.json").is_file()


def test_a_folder_named_like_a_model_does_not_replace_it(tmp_path, monkeypatch):
    """An (empty) ./ecglm-base in the working directory was taken for the built-in model by
    every command run there, and the output still said "ecglm-base"."""
    store = Store(tmp_path / "cache")
    cached = cached_bundle(store)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ecglm-base").mkdir()
    (tmp_path / "mybundle").mkdir()
    assert resolve("ecglm-base") == get_entry("ecglm-base").builtin_path
    assert resolve("mybundle", cache_dir=tmp_path / "cache") == cached
    assert resolve("./ecglm-base") == Path("./ecglm-base")  # said as a path: the folder
    (tmp_path / "runs" / "enc").mkdir(parents=True)
    assert resolve("runs/enc", cache_dir=tmp_path / "cache") == Path("runs/enc")


@pytest.mark.parametrize("text, message", [
    ("", "no model given"),
    ("~no-such-user-xyz/bundle", "no such file or folder"),
    ("models/my-bundle", "models/my-bundle: no such folder, and no downloaded model"),
])
def test_odd_model_names_are_one_clear_error(tmp_path, monkeypatch, text, message):
    """'' used the working directory as the bundle; '~nouser/x' raised RuntimeError; a mistyped
    folder was only "not downloaded yet", sending the user to the network."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match=message):
        resolve(text, cache_dir=tmp_path / "cache")


def test_verify_finds_changed_and_extra_files(tmp_path):
    store = Store(tmp_path)
    path = cached_bundle(store)
    (entry,) = store.all()
    assert verify(entry) == []
    (path / "encoder.safetensors").write_bytes(os.urandom(1000))
    (path / "extra.txt").write_text("?")
    problems = verify(entry)
    assert any("sha256 does not match" in p for p in problems)
    assert any("extra.txt: not in the manifest" in p for p in problems)
    result = CliRunner().invoke(cli, ["download", "--verify", "--cache-dir", str(tmp_path),
                                      "--format", "json"])
    assert isinstance(result.exception, ModelError) and "failed verification" in str(
        result.exception)
    assert json.loads(result.stdout.splitlines()[0])["status"] == "corrupt"


def test_remove_and_list(tmp_path):
    store = Store(tmp_path)
    path = cached_bundle(store)
    runner = CliRunner()
    listed = runner.invoke(cli, ["download", "--list", "--format", "csv", "--cache-dir",
                                 str(tmp_path)])
    assert listed.exit_code == 0
    row = next(line for line in listed.stdout.splitlines() if line.startswith("mybundle,"))
    assert ",yes," in row
    removed = runner.invoke(cli, ["download", "--remove", "mybundle", "--cache-dir",
                                  str(tmp_path)])
    assert removed.exit_code == 0, removed.output
    assert not path.exists() and store.all() == []
    with pytest.raises(ModelError, match="unknown model 'mybundle'"):  # only its URL fetches it
        resolve("mybundle", cache_dir=tmp_path)
    again = runner.invoke(cli, ["download", "--remove", "mybundle", "--cache-dir",
                                str(tmp_path)])
    assert isinstance(again.exception, ModelError)
    builtin = runner.invoke(cli, ["download", "--remove", "ecglm-base"])
    assert "built into ecglm" in str(builtin.exception)


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_extraction_is_bounded(tmp_path):
    archive = tmp_path / "a.tar"
    archive.write_bytes(_tar({"a/1": b"x" * 10, "a/2": b"y" * 10, "a/3": b"z" * 300}))
    with pytest.raises(DownloadError, match="more than 2 members"):
        safe_extract(archive, _empty(tmp_path / "one"), max_members=2)
    with pytest.raises(DownloadError, match="more than 100 bytes"):
        safe_extract(archive, _empty(tmp_path / "two"), max_bytes=100)
    assert not any((tmp_path / "one").iterdir()) and not any((tmp_path / "two").iterdir())
    assert safe_extract(archive, _empty(tmp_path / "three")) == "a"
    duplicate = tmp_path / "dup.tar"
    duplicate.write_bytes(_tar({"a/1": b"x", "a/./1": b"y"}))
    with pytest.raises(DownloadError, match="duplicate"):
        safe_extract(duplicate, _empty(tmp_path / "four"))
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not an archive at all")
    with pytest.raises(DownloadError, match="cannot unpack"):
        safe_extract(garbage, _empty(tmp_path / "five"))


def test_a_small_archive_may_not_unpack_to_much_more(tmp_path, monkeypatch):
    """A zip bomb: 2 MB that unpack to 2 GiB passed the 32 GiB bound (here scaled down)."""
    monkeypatch.setattr("ecglm_cli.cache.archive.RATIO_FREE_BYTES", 10_000, raising=False)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("b/weights.bin", bytes(5_000_000))
    assert bomb.stat().st_size < 10_000
    with pytest.raises(DownloadError, match="at most 100 times its own size"):
        safe_extract(bomb, _empty(tmp_path / "bomb"))
    assert not any((tmp_path / "bomb").iterdir())
    weights = tmp_path / "weights.zip"
    with zipfile.ZipFile(weights, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("w/weights.bin", os.urandom(50_000))
        archive.writestr("w/config.json", "{}" + " " * 5_000)
    assert safe_extract(weights, _empty(tmp_path / "weights")) == "w"


def _empty(folder: Path) -> Path:
    folder.mkdir()
    return folder


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_shows_bytes_rate_and_eta():
    from ecglm_cli.progress import Progress

    stream = _Terminal()
    bar = Progress(4_000_000, "b", unit="bytes", done=1_000_000, stream=stream)
    bar.started, bar.last_draw = time.monotonic() - 1.0, -1.0  # 1 MB in one second so far
    bar.update(1_000_000)
    assert stream.getvalue().startswith("\rb  2.0 MB/4.0 MB  50.0%  1.0 MB/s  ETA 0:00:02")
    bar.close()
    assert stream.getvalue().endswith("\n")


def test_options_that_do_not_fit_the_name_are_usage_errors():
    runner = CliRunner()
    result = runner.invoke(cli, ["download", "qwen2.5-0.5b-instruct", "--sha256", "0" * 64])
    assert result.exit_code == 2 and "--sha256 is only for" in result.output
    result = runner.invoke(cli, ["download", "https://h/b.tar.gz", "--sha256", "0" * 64,
                                 "--revision", "main"])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["download", "--list", "--verify"])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["download", "ecglm-small", "--list"])  # NAME was ignored
    assert result.exit_code == 2 and "--list takes no NAME" in result.output


def test_a_malformed_url_is_one_line_naming_it(tmp_path):
    """It said "ValueError: Invalid IPv6 URL" without the URL."""
    result = CliRunner().invoke(cli, ["download", "http://[::1/x.tar.gz", "--sha256", "0" * 64,
                                      "--cache-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert str(result.exception).startswith("http://[::1/x.tar.gz: not a valid URL")


def test_a_killed_runs_staging_folder_is_removed_by_the_next(tmp_path):
    """SIGKILL while unpacking left a staging folder (0.7 GB each time) that no later run
    removed. Another model's staging folder is left alone."""
    from ecglm_cli.cache.store import Store

    store = Store(tmp_path)
    with store.lock("b"):
        killed = store.staging_dir("b")
    (killed / "weights.safetensors").write_bytes(b"x" * 1000)
    with store.lock("b-tiny"):
        other = store.staging_dir("b-tiny")
    with store.lock("b"):
        fresh = store.staging_dir("b")
    assert fresh.is_dir() and not killed.exists() and other.is_dir()


def test_a_lock_that_cannot_be_taken_is_one_line_naming_it(tmp_path):
    """A symlinked lock file (or another user's, in a shared cache) raised a raw OSError."""
    store = Store(tmp_path)
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "mybundle.lock").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(DownloadError, match="mybundle.lock: cannot take the download lock"):
        with store.lock("mybundle"):
            pass
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("change", [
    {"root": "/etc"}, {"root": "../../.."}, {"files": {"../x": {"sha256": "0" * 64, "size": 1}}},
    {"files": {"config.json": {"sha256": "0" * 64}}}, {"kind": None}, {"name": "../x"},
], ids=str)
def test_a_manifest_is_not_trusted_unchecked(tmp_path, change):
    """A `root` of "/etc" made `--model NAME` open a folder outside the cache; an entry without
    a size crashed `--list` (KeyError: 'size')."""
    store = Store(tmp_path)
    path = cached_bundle(store)
    manifest = path.parent.parent / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), **change}))
    assert store.all() == []
    with pytest.raises(ModelError, match="unknown model|not downloaded"):
        resolve("mybundle", cache_dir=tmp_path)
    listed = CliRunner().invoke(cli, ["download", "--list", "--cache-dir", str(tmp_path),
                                      "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert "mybundle" not in listed.output


def test_verify_goes_on_past_an_unreadable_file(tmp_path, monkeypatch):
    """One unreadable weights file stopped `--verify` with a raw PermissionError."""
    import ecglm_cli.cache.store as store_module

    store = Store(tmp_path)
    path = cached_bundle(store)

    def unreadable(file):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(store_module, "sha256_file", unreadable)
    problems = verify(store.find("mybundle"))
    assert problems and all(p.endswith("unreadable (Permission denied)") for p in problems)
    (path / "config.json").unlink()
    (path / "config.json").symlink_to(path / "encoder.safetensors")
    assert "mybundle/config.json: a symbolic link" in verify(store.find("mybundle"))


def test_names_that_differ_only_in_case_are_different_models(tmp_path):
    """After bundles `small` and `Small` were downloaded, `--model Small` used `small`, and
    `--remove Small` would have removed both."""
    from ecglm_cli.cache.inventory import matching
    from ecglm_cli.cache.spec import parse_spec

    store = Store(tmp_path)
    lower, upper = cached_bundle(store, "small"), cached_bundle(store, "Small")
    assert resolve("Small", cache_dir=tmp_path) == upper
    assert resolve("small", cache_dir=tmp_path) == lower
    assert [e.path for e in matching(parse_spec("Small"), store)] == [upper]
    assert resolve("SMALL", cache_dir=tmp_path) in (lower, upper)  # no exact one: either


def test_an_entry_with_a_damaged_manifest_is_reported_and_removable(tmp_path):
    """It was invisible: `--verify` said "nothing cached" (exit 0) and `--remove` said the
    model was not in the cache, so only deleting the folder by hand helped."""
    store = Store(tmp_path)
    path = cached_bundle(store)
    (path.parent.parent / "manifest.json").write_text("{not json")
    runner = CliRunner()
    checked = runner.invoke(cli, ["download", "--verify", "--cache-dir", str(tmp_path),
                                  "--format", "json"])
    assert checked.exit_code == 1
    row = json.loads(checked.stdout.splitlines()[0])
    assert row["name"] == "mybundle" and row["status"] == "no manifest"
    removed = runner.invoke(cli, ["download", "--remove", "mybundle", "--cache-dir",
                                  str(tmp_path)])
    assert removed.exit_code == 0, removed.output
    assert not (tmp_path / "models" / "mybundle").exists()


def test_a_cache_moved_to_another_disk_behind_a_symlink_still_installs_and_removes(
        tmp_path, monkeypatch):
    """With `models/` on another file system, every download was thrown away at the final
    rename ("Invalid cross-device link"), and `--remove` failed the same way, leaving
    tmp/removing-*; with `models/NAME` a symlink, `--remove` deleted the model and then failed
    with NotADirectoryError."""
    import errno

    import ecglm_cli.cache.store as store_module

    real_replace = os.replace
    store = Store(tmp_path / "cache")

    def across_disks(src, dst):
        if store.tmp_dir in Path(src).parents or store.tmp_dir in Path(dst).parents:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(src, dst)

    monkeypatch.setattr(store_module.os, "replace", across_disks)
    path = cached_bundle(store)
    assert (path / "config.json").is_file() and store.find("mybundle") is not None
    store.remove(store.find("mybundle").folder)
    assert store.find("mybundle") is None
    assert not [p for p in store.tmp_dir.iterdir() if p.name.startswith("removing-")]
    monkeypatch.setattr(store_module.os, "replace", real_replace)

    path = cached_bundle(store)  # then moved elsewhere, a symlink left in its place
    elsewhere = tmp_path / "disk2" / "mybundle"
    elsewhere.parent.mkdir()
    (store.models_dir / "mybundle").rename(elsewhere)
    (store.models_dir / "mybundle").symlink_to(elsewhere)
    store.remove(store.find("mybundle").folder)
    assert store.find("mybundle") is None and not (store.models_dir / "mybundle").exists()


def test_removing_one_name_leaves_a_damaged_folder_of_another_case_alone(tmp_path):
    """`--remove Small` also deleted the damaged folder of the different model `small`."""
    store = Store(tmp_path)
    damaged = cached_bundle(store, "small")
    (damaged.parent.parent / "manifest.json").write_text("{}")
    kept = cached_bundle(store, "Small")
    removed = CliRunner().invoke(cli, ["download", "--remove", "Small", "--cache-dir",
                                       str(tmp_path)])
    assert removed.exit_code == 0, removed.output
    assert not kept.exists() and damaged.exists()
