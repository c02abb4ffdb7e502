"""URL bundle downloads against a real HTTP server on 127.0.0.1: success, bad hash, a dropped
connection and its resume, hostile archives, concurrent downloads and offline mode."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from cache_servers import ServerState, file_server

from ecglm_cli.cache import resolve
from ecglm_cli.cache.http import fetch_bundle
from ecglm_cli.cache.store import Store
from ecglm_cli.errors import DownloadError, ModelError, OfflineError

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = random.Random(0).randbytes(200_000)  # incompressible, so the archive is 200 kB


@pytest.fixture(autouse=True)
def _online(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ECGLM_OFFLINE",
                "HF_HUB_OFFLINE", "ECGLM_CACHE_DIR"):
        monkeypatch.delenv(var, raising=False)


def bundle_tar(top: str | None = "b") -> bytes:
    """A bundle archive: config.json and weights, under one top-level folder."""
    buffer = io.BytesIO()
    prefix = f"{top}/" if top else ""
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        if top:
            info = tarfile.TarInfo(top)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in (("config.json", b'{"encoder": "resnet18-1d"}'),
                           ("weights.safetensors", WEIGHTS)):
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cli(*args: str, cache: Path, env_extra: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "ECGLM_CACHE_DIR": str(cache),
           **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "ecglm_cli", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def error_line(stderr: str) -> str:
    """The one error line (progress lines may come before it)."""
    lines = [line for line in stderr.splitlines() if line.startswith("ecglm: error:")]
    assert len(lines) == 1, stderr
    assert stderr.splitlines()[-1] == lines[0]
    return lines[0]


def leftovers(cache: Path) -> list[Path]:
    """Files anywhere in the cache except lock files."""
    return [p for p in cache.rglob("*") if p.is_file() and p.suffix != ".lock"]


def test_url_bundle_is_cached_and_resolved(tmp_path, monkeypatch):
    archive = bundle_tar()
    state = ServerState(files={"/b.tar.gz": archive})
    with file_server(state) as server:
        done = cli("download", f"{server.url}/b.tar.gz", "--sha256", sha(archive), cache=tmp_path)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert "--model/--llm b" in done.stderr
    assert "/s" in done.stderr and "100.0%" in done.stderr  # the progress line: bytes and rate
    assert path.name == "b" and (path / "config.json").is_file()  # the single top-level folder
    assert (path / "weights.safetensors").read_bytes() == WEIGHTS
    manifest = json.loads((path.parent.parent / "manifest.json").read_text())
    assert manifest["files"]["b/weights.safetensors"] == {"sha256": sha(WEIGHTS),
                                                          "size": len(WEIGHTS)}
    assert manifest["archive_sha256"] == sha(archive)
    # what `ecglm classify --model b` resolves to
    monkeypatch.setenv("ECGLM_CACHE_DIR", str(tmp_path))
    assert resolve("b", kind="ecg-bundle") == path
    with pytest.raises(ModelError, match="not a language model"):
        resolve("b", kind="llm")
    listed = cli("download", "--list", "--format", "json", cache=tmp_path)
    rows = {r["name"]: r for r in map(json.loads, listed.stdout.splitlines())}
    assert rows["b"]["cached"] is True and rows["b"]["source"] == f"url:{server.url}/b.tar.gz"
    assert {"ecglm-base", "qwen2.5-0.5b-instruct", "smollm2-360m-instruct",
            "biomedgpt-lm-7b"} <= set(rows)
    assert not any(p.suffix == ".part" for p in leftovers(tmp_path))


def test_zip_without_top_folder_resolves_to_its_root(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("config.json", "{}")
        zipped.writestr("weights/encoder.safetensors", WEIGHTS)
    archive = buffer.getvalue()
    with file_server(ServerState(files={"/flat.zip": archive})) as server:
        entry, downloaded = fetch_bundle(f"{server.url}/flat.zip", sha(archive), Store(tmp_path))
    assert downloaded and entry.name == "flat" and entry.path == entry.folder / "files"
    assert (entry.path / "weights" / "encoder.safetensors").read_bytes() == WEIGHTS


def test_wrong_sha256_leaves_nothing(tmp_path):
    archive = bundle_tar()
    with file_server(ServerState(files={"/b.tar.gz": archive})) as server:
        done = cli("download", f"{server.url}/b.tar.gz", "--sha256", "0" * 64, cache=tmp_path)
    assert done.returncode == 1
    assert "sha256 mismatch" in error_line(done.stderr)
    assert sha(archive) in done.stderr
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_url_without_sha256_is_refused(tmp_path):
    state = ServerState(files={"/b.tar.gz": bundle_tar()})
    with file_server(state) as server:
        done = cli("download", f"{server.url}/b.tar.gz", cache=tmp_path)
    assert done.returncode == 1 and "without --sha256" in done.stderr
    assert state.log == []


@pytest.mark.parametrize("support_range", [True, False])
def test_dropped_connection_then_rerun(tmp_path, support_range):
    archive = bundle_tar()
    half = len(archive) // 2
    state = ServerState(files={"/b.tar.gz": archive}, support_range=support_range,
                        drop_after=half)
    with file_server(state) as server:
        url = f"{server.url}/b.tar.gz"
        first = cli("download", url, "--sha256", sha(archive), cache=tmp_path)
        assert first.returncode == 1
        assert "lost after" in first.stderr and "again to resume" in first.stderr
        parts = [p for p in leftovers(tmp_path) if p.suffix == ".part"]
        kept = parts[0].stat().st_size if len(parts) == 1 else None
        assert kept == half
        assert Store(tmp_path).all() == []  # nothing that looks complete
        second = cli("download", url, "--sha256", sha(archive), cache=tmp_path)
    assert second.returncode == 0, second.stderr
    assert (Path(second.stdout.strip()) / "weights.safetensors").read_bytes() == WEIGHTS
    assert [r.range for r in state.log] == [None, f"bytes={half}-"]
    # resumed where it stopped, or started again when the server ignores ranges
    assert ("resuming at" in second.stderr) == support_range
    assert not any(p.suffix == ".part" for p in leftovers(tmp_path))


def test_complete_part_file_is_not_fetched_again(tmp_path):
    archive = bundle_tar()
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / f"b-{sha(archive)[:16]}.part").write_bytes(archive)
    state = ServerState(files={"/b.tar.gz": archive})
    with file_server(state) as server:
        entry, downloaded = fetch_bundle(f"{server.url}/b.tar.gz", sha(archive), Store(tmp_path))
    assert downloaded and state.log == []
    assert (entry.path / "weights.safetensors").read_bytes() == WEIGHTS


def test_a_symlink_in_place_of_the_partial_download_is_not_followed(tmp_path):
    """A `.part` symlink to a file outside the cache had the whole archive appended to that
    file, which stayed corrupted after the checksum failed ("nothing was cached")."""
    archive = bundle_tar()
    outside = tmp_path / "notes.txt"
    outside.write_text("precious user data\n")
    cache = tmp_path / "cache"
    (cache / "tmp").mkdir(parents=True)
    part = cache / "tmp" / f"b-{sha(archive)[:16]}.part"
    part.symlink_to(outside)
    with file_server(ServerState(files={"/b.tar.gz": archive})) as server:
        entry, downloaded = fetch_bundle(f"{server.url}/b.tar.gz", sha(archive), Store(cache))
        assert downloaded and (entry.path / "weights.safetensors").read_bytes() == WEIGHTS
        assert outside.read_text() == "precious user data\n"
        part.mkdir()  # not a file: named, not IsADirectoryError
        (cache / "models").rename(tmp_path / "moved")
        with pytest.raises(DownloadError, match=f"{part}: in the way of the download"):
            fetch_bundle(f"{server.url}/b.tar.gz", sha(archive), Store(cache))


def test_an_interrupt_while_unpacking_keeps_the_verified_archive(tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM while unpacking deleted the archive already downloaded and checked, so
    the rerun downloaded all of it again."""
    import ecglm_cli.cache.http as http_module

    archive = bundle_tar()
    state = ServerState(files={"/b.tar.gz": archive})
    unpack = http_module.safe_extract

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with file_server(state) as server:
        url = f"{server.url}/b.tar.gz"
        monkeypatch.setattr(http_module, "safe_extract", interrupted)
        with pytest.raises(KeyboardInterrupt):
            fetch_bundle(url, sha(archive), Store(tmp_path))
        monkeypatch.setattr(http_module, "safe_extract", unpack)
        entry, downloaded = fetch_bundle(url, sha(archive), Store(tmp_path))
    assert downloaded and [r.range for r in state.log] == [None]  # one transfer, not two
    assert (entry.path / "weights.safetensors").read_bytes() == WEIGHTS
    assert not any(p.suffix == ".part" for p in leftovers(tmp_path))


def _tar_with(member: tarfile.TarInfo, data: bytes = b"owned") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        ok = tarfile.TarInfo("b/config.json")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"{}"))
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return buffer.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = 5 if kind == tarfile.REGTYPE else 0
    return info


def _zip_with(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("b/config.json", "{}")
        archive.writestr(name, "owned")
    return buffer.getvalue()


HOSTILE = {
    "dotdot": (_tar_with(_member("../../x")), "'..'"),
    "absolute": (_tar_with(_member("/tmp/ecglm-test-x")), "absolute path"),
    "symlink": (_tar_with(_member("b/x", tarfile.SYMTYPE, "/etc/passwd")), "links"),
    "hardlink": (_tar_with(_member("b/x", tarfile.LNKTYPE, "b/config.json")), "links"),
    "device": (_tar_with(_member("b/x", tarfile.CHRTYPE)), "not a file or folder"),
    "zip-dotdot": (_zip_with("../../x"), "'..'"),
    "zip-absolute": (_zip_with("/tmp/ecglm-test-x"), "absolute path"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_is_refused(tmp_path, case):
    archive, reason = HOSTILE[case]
    cache = tmp_path / "deep" / "cache"
    with file_server(ServerState(files={"/b.tar.gz": archive})) as server:
        with pytest.raises(DownloadError, match=reason):
            fetch_bundle(f"{server.url}/b.tar.gz", sha(archive), Store(cache))
    assert leftovers(tmp_path) == []
    assert not Path("/tmp/ecglm-test-x").exists()


def test_hostile_archive_through_the_cli(tmp_path):
    archive, _ = HOSTILE["dotdot"]
    with file_server(ServerState(files={"/b.tar.gz": archive})) as server:
        done = cli("download", f"{server.url}/b.tar.gz", "--sha256", sha(archive),
                   cache=tmp_path / "c")
    assert done.returncode == 1 and "refusing archive member '../../x'" in done.stderr
    assert leftovers(tmp_path) == []


def test_two_concurrent_downloads_share_one_transfer(tmp_path):
    archive = bundle_tar()
    state = ServerState(files={"/b.tar.gz": archive}, delay_s=0.05)
    env = {**os.environ, "PYTHONPATH": str(REPO), "ECGLM_CACHE_DIR": str(tmp_path)}
    with file_server(state) as server:
        cmd = [sys.executable, "-m", "ecglm_cli", "download", f"{server.url}/b.tar.gz",
               "--sha256", sha(archive)]
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
        results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    paths = {Path(out.strip()) for out, _ in results}
    assert len(paths) == 1
    path = paths.pop()
    assert (path / "weights.safetensors").read_bytes() == WEIGHTS
    assert len([r for r in state.log if r.path == "/b.tar.gz"]) == 1
    assert any("already cached" in err for _, err in results)
    verified = cli("download", "--verify", "b", "--format", "json", cache=tmp_path)
    assert verified.returncode == 0 and json.loads(verified.stdout)["status"] == "ok"


def test_offline_without_and_with_a_cached_copy(tmp_path):
    archive = bundle_tar()
    state = ServerState(files={"/b.tar.gz": archive})
    offline = {"ECGLM_OFFLINE": "1"}
    with file_server(state) as server:
        url = f"{server.url}/b.tar.gz"
        missing = cli("download", url, "--sha256", sha(archive), cache=tmp_path,
                      env_extra=offline)
        assert missing.returncode == 4 and state.log == []
        assert f"ecglm download {url}" in error_line(missing.stderr)
        online = cli("download", url, "--sha256", sha(archive), cache=tmp_path)
        assert online.returncode == 0
        cached = cli("download", url, "--sha256", sha(archive), cache=tmp_path,
                     env_extra=offline)
    assert cached.returncode == 0 and cached.stdout == online.stdout
    assert len(state.log) == 1


def test_offline_registry_model_exits_4(tmp_path, monkeypatch):
    done = cli("download", "qwen2.5-0.5b-instruct", cache=tmp_path,
               env_extra={"ECGLM_OFFLINE": "1"})
    assert done.returncode == 4
    assert done.stderr.count("\n") == 1
    assert "ecglm download qwen2.5-0.5b-instruct" in error_line(done.stderr)
    monkeypatch.setenv("ECGLM_CACHE_DIR", str(tmp_path))
    with pytest.raises(ModelError, match="ecglm download someone/b"):
        resolve("someone/b")
    with pytest.raises(ModelError, match="unknown model 'b'"):  # no download is called b
        resolve("b")
    monkeypatch.setenv("ECGLM_OFFLINE", "1")
    with pytest.raises(OfflineError, match="ecglm download someone/b"):
        resolve("someone/b")
    with pytest.raises(ModelError, match="unknown model 'b'"):
        resolve("b")


def test_a_server_that_only_drips_is_given_up_and_resumed_later(tmp_path, monkeypatch):
    """At 1 byte/s each byte reset the 30 s socket timeout, so a download would take weeks;
    now a window with too few bytes ends it, keeping what arrived for the next run."""
    import ecglm_cli.cache.http as http

    monkeypatch.setattr(http, "SLOW_WINDOW_S", 0.3)
    monkeypatch.setattr(http, "SLOW_MIN_BYTES", 1 << 20)
    archive = bundle_tar()
    state = ServerState(files={"/b.tar.gz": archive}, delay_s=0.1)  # 8 kB per 0.1 s
    with file_server(state) as server:
        url = f"{server.url}/b.tar.gz"
        with pytest.raises(DownloadError, match="the server is too slow.*resumes from it"):
            fetch_bundle(url, sha(archive), Store(tmp_path))
        kept = [p.stat().st_size for p in leftovers(tmp_path) if p.suffix == ".part"]
        assert len(kept) == 1 and 0 < kept[0] < len(archive)
        state.delay_s = 0.0
        entry, downloaded = fetch_bundle(url, sha(archive), Store(tmp_path))
    assert downloaded and (entry.path / "weights.safetensors").read_bytes() == WEIGHTS
    assert state.log[-1].range == f"bytes={kept[0]}-"


def test_member_listing_stops_at_the_limit():
    """Every member was listed before the count was checked: 2 million empty members took
    1.8 GB and 142 s. An endless listing now stops at the limit."""
    import itertools

    from ecglm_cli.cache.archive import Member, _at_most

    endless = itertools.repeat(Member("f", False, 0, lambda: None))
    with pytest.raises(DownloadError, match="more than 10 members"):
        _at_most(endless, 10)


@pytest.mark.parametrize(("name", "why"), [
    ("a/" * 5000 + "f", "folders deep"), ("bad\nname", "line break"),
], ids=["5000 folders deep", "line break"])
def test_member_names_too_deep_or_with_line_breaks_are_refused(tmp_path, name, why):
    """5000 nested folders overflowed Python's recursion (a RecursionError, not a reason)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    archive = buffer.getvalue()
    with file_server(ServerState(files={"/b.tar.gz": archive})) as server:
        with pytest.raises(DownloadError, match=why):
            fetch_bundle(f"{server.url}/b.tar.gz", sha(archive), Store(tmp_path))


def test_a_cache_path_that_is_a_file_is_named(tmp_path):
    """It gave "NotADirectoryError: [Errno 20] Not a directory: '.../locks'"."""
    archive = bundle_tar()
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file")
    with file_server(ServerState(files={"/b.tar.gz": archive})) as server:
        result = cli("download", f"{server.url}/b.tar.gz", "--sha256", sha(archive),
                     cache=not_a_folder)
    assert result.returncode == 1
    line = error_line(result.stderr)
    assert f"cannot write the model cache at {not_a_folder}" in line and "--cache-dir" in line


def test_a_full_disk_is_not_reported_as_a_lost_connection(tmp_path, monkeypatch):
    """A full disk said "connection lost ... run the same command again to resume" and left
    its partial file filling the disk."""
    import errno

    import ecglm_cli.cache.http as http

    class FullDisk(io.RawIOBase):
        def __init__(self, path, mode, buffering):
            self.real = open(path, mode, buffering=buffering)

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            self.real.close()
            super().close()

    monkeypatch.setattr(http, "open", FullDisk, raising=False)
    archive = bundle_tar()
    with file_server(ServerState(files={"/b.tar.gz": archive})) as server:
        with pytest.raises(DownloadError, match="No space left on device; the partial file "
                                                "was removed"):
            fetch_bundle(f"{server.url}/b.tar.gz", sha(archive), Store(tmp_path))
    assert not [p for p in leftovers(tmp_path) if p.suffix == ".part"]


def test_a_full_disk_while_unpacking_keeps_the_checked_archive(tmp_path, monkeypatch):
    """A disk too small for the unpacked bundle deleted the archive just downloaded and
    checked, and called it an archive that "cannot be unpacked"."""
    import errno

    import ecglm_cli.cache.archive as archive_module

    real_copy = archive_module._copy_bounded

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    archive = bundle_tar()
    state = ServerState(files={"/b.tar.gz": archive})
    with file_server(state) as server:
        monkeypatch.setattr(archive_module, "_copy_bounded", full_disk)
        with pytest.raises(DownloadError, match="No space left on device; the checked archive "
                                                "is kept"):
            fetch_bundle(f"{server.url}/b.tar.gz", sha(archive), Store(tmp_path))
        assert [p for p in leftovers(tmp_path) if p.suffix == ".part"]
        monkeypatch.setattr(archive_module, "_copy_bounded", real_copy)
        requests = len(state.log)
        entry, _ = fetch_bundle(f"{server.url}/b.tar.gz", sha(archive), Store(tmp_path))
    assert len(state.log) == requests  # finished from the kept archive, nothing fetched
    assert (entry.path / "weights.safetensors").read_bytes() == WEIGHTS
