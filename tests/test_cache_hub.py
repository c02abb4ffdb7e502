"""Hub downloads against a local Hub look-alike serving a tiny Llama built in the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cache_servers import HubState, hub_server

from ecglm_cli.cache import resolve
from ecglm_cli.cache.hub import fetch_repo
from ecglm_cli.cache.store import Store, verify
from ecglm_cli.errors import DownloadError, OfflineError

REPO = Path(__file__).resolve().parents[1]
REPO_ID = "tiny-org/tiny-llama"
TEXT = ["the heart rate is regular", "sinus rhythm with normal axis",
        "atrial fibrillation with rapid ventricular response", "st elevation in leads v1 to v4"]


@pytest.fixture(autouse=True)
def _no_proxy_online(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ECGLM_OFFLINE",
                "HF_HUB_OFFLINE", "ECGLM_CACHE_DIR", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A 2-layer Llama and a BPE tokenizer trained here, saved as safetensors."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(TEXT * 10, trainers.BpeTrainer(
        vocab_size=120, special_tokens=["<unk>", "<s>", "</s>", "<pad>"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                        eos_token="</s>", pad_token="<pad>")
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=64)
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    return folder


def _logits(folder: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = tokenizer("sinus rhythm with normal axis", return_tensors="pt").input_ids
    with torch.no_grad():
        return model(ids).logits


def _cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "ecglm_cli", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def test_hub_download_then_load_with_transformers(tiny_model, tmp_path):
    import torch

    state = HubState.from_folder(REPO_ID, tiny_model, extra={"pytorch_model.bin": b"pickle!"})
    cache = tmp_path / "cache"
    with hub_server(state) as server:
        done = _cli("download", REPO_ID, "--endpoint", server.url, "--cache-dir", str(cache))
        assert done.returncode == 0, done.stderr
        path = Path(done.stdout.strip())
        again = _cli("download", REPO_ID, "--endpoint", server.url, "--cache-dir", str(cache))
    assert again.returncode == 0 and Path(again.stdout.strip()) == path
    assert "already cached" in again.stderr
    # never a pickle, never a file twice
    fetched = [r.path for r in state.log if r.method == "GET" and "/resolve/" in r.path]
    assert not any(p.endswith(".bin") for p in fetched)
    assert len(fetched) == len(set(fetched)) == len(state.files) - 1
    assert (path / "model.safetensors").is_file() and not (path / "pytorch_model.bin").exists()
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert manifest["repo_id"] == REPO_ID and manifest["kind"] == "llm"
    assert set(manifest["files"]) == set(state.files) - {"pytorch_model.bin"}
    assert resolve(REPO_ID, kind="llm", cache_dir=cache) == path
    torch.testing.assert_close(_logits(path), _logits(tiny_model))
    # the staging copy that huggingface_hub kept is gone once the model is in place
    assert not any((cache / "tmp").rglob("*.safetensors"))


def test_only_the_vetted_listing_is_downloaded(tiny_model, tmp_path):
    """snapshot_download listed the repo a second time and fetched what that listing said: a
    300 MB file missing from the listing ecglm had checked was downloaded before the refusal."""
    state = HubState.from_folder(REPO_ID, tiny_model)
    state.late = {"extra-00001.safetensors": b"x" * 1000}
    cache = tmp_path / "cache"
    with hub_server(state) as server:
        done = _cli("download", REPO_ID, "--endpoint", server.url, "--cache-dir", str(cache))
    assert done.returncode == 0, done.stderr
    fetched = [r.path for r in state.log if r.method == "GET" and "/resolve/" in r.path]
    assert fetched and not any("extra-00001" in p for p in fetched)
    assert not (Path(done.stdout.strip()) / "extra-00001.safetensors").exists()


def test_a_file_longer_than_its_listing_is_stopped(tiny_model, tmp_path):
    """huggingface_hub compares sizes only at the end: a server streaming without end filled
    3 GB in 20 s for a file listed at 100 kB, and left it behind after a kill."""
    state = HubState.from_folder(REPO_ID, tiny_model)
    state.endless = {"model.safetensors"}
    with hub_server(state) as server:
        with pytest.raises(DownloadError, match="sent more than the .* bytes its listing gave"):
            fetch_repo(REPO_ID, None, Store(tmp_path), server.url)
    assert sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()) < 8 << 20


def test_a_hub_server_that_drips_is_given_up(tiny_model, tmp_path, monkeypatch):
    import ecglm_cli.cache.http as http  # the rate rule the Hub watch shares

    monkeypatch.setattr(http, "SLOW_WINDOW_S", 0.5)
    monkeypatch.setattr(http, "SLOW_MIN_BYTES", 1 << 20)
    state = HubState.from_folder(REPO_ID, tiny_model)
    state.drip_s = {"model.safetensors": 0.05}
    with hub_server(state) as server:
        with pytest.raises(DownloadError, match="the server is too slow"):
            fetch_repo(REPO_ID, None, Store(tmp_path), server.url)


@pytest.mark.parametrize("stalled", ["revision", "tree", "model.safetensors"])
def test_a_hub_server_that_never_answers_is_given_up(tiny_model, tmp_path, monkeypatch,
                                                     stalled):
    """huggingface_hub's own client has no timeout: a server that accepted the connection and
    never answered kept `download` (and the lock) waiting for good; a file's HEAD gave up only
    after 397 s of retries."""
    import time

    import ecglm_cli.cache.hub as hub

    monkeypatch.setattr(hub, "TIMEOUT_S", 1.0)
    state = HubState.from_folder(REPO_ID, tiny_model)
    state.stall = {stalled}
    started = time.monotonic()
    with hub_server(state) as server:
        with pytest.raises(DownloadError, match="did not answer within 1 s"):
            fetch_repo(REPO_ID, None, Store(tmp_path), server.url)
    assert time.monotonic() - started < 30


def test_a_long_rate_limit_wait_is_not_waited_for(tiny_model, tmp_path):
    """huggingface_hub sleeps as long as a 429's Retry-After asks: 100,000 s were waited."""
    state = HubState.from_folder(REPO_ID, tiny_model)
    state.retry_after = {"model.safetensors": 100_000}
    with hub_server(state) as server:
        done = _cli("download", REPO_ID, "--endpoint", server.url, "--cache-dir", str(tmp_path))
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == (f"ecglm: error: {REPO_ID}/model.safetensors: the server is rate limiting "
                    "downloads and asks to wait 27.8 hours; try again later")
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_hub_without_safetensors_is_refused(tmp_path):
    state = HubState(REPO_ID, {"config.json": b"{}", "pytorch_model.bin": b"pickle!"})
    with hub_server(state) as server, pytest.raises(DownloadError, match="no safetensors"):
        fetch_repo(REPO_ID, None, Store(tmp_path), endpoint=server.url)
    assert not any("/resolve/" in r.path for r in state.log)


def test_hub_listing_with_escaping_name_is_refused(tmp_path):
    state = HubState(REPO_ID, {"model.safetensors": b"x" * 10, "config.json": b"{}"},
                     listed_names={"../../evil.json": "config.json"})
    with hub_server(state) as server, pytest.raises(DownloadError, match=r"'\.\.'"):
        fetch_repo(REPO_ID, None, Store(tmp_path), endpoint=server.url)
    assert not any("/resolve/" in r.path for r in state.log)
    assert not list(tmp_path.parent.glob("evil.json"))


def test_hub_file_unlike_its_listing_is_refused(tiny_model, tmp_path):
    state = HubState.from_folder(REPO_ID, tiny_model)
    state.tamper.add("model.safetensors")
    store = Store(tmp_path)
    with hub_server(state) as server, pytest.raises(DownloadError, match="does not match"):
        fetch_repo(REPO_ID, None, store, endpoint=server.url)
    assert store.all() == []
    assert not any((tmp_path / "tmp").rglob("*.safetensors"))


def test_hub_offline_uses_cache_only(tiny_model, tmp_path, monkeypatch):
    state = HubState.from_folder(REPO_ID, tiny_model)
    store = Store(tmp_path)
    with hub_server(state) as server:
        entry, downloaded = fetch_repo(REPO_ID, None, store, endpoint=server.url)
    assert downloaded and verify(entry) == []
    offline = {"HF_HUB_OFFLINE": "1"}
    cached = _cli("download", REPO_ID, "--cache-dir", str(tmp_path), "--endpoint",
                  "http://127.0.0.1:9", env_extra=offline)
    assert cached.returncode == 0, cached.stderr
    assert Path(cached.stdout.strip()) == entry.path
    missing = _cli("download", "other-org/other-model", "--cache-dir", str(tmp_path),
                   env_extra=offline)
    assert missing.returncode == 4
    assert missing.stderr.count("\n") == 1
    assert "ecglm download other-org/other-model" in missing.stderr
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match="ecglm download smollm2-360m-instruct"):
        resolve("smollm2-360m-instruct", kind="llm", cache_dir=tmp_path)


def test_the_bounded_hub_client_still_goes_through_the_users_proxy(monkeypatch):
    """The first bounded client brought its own transport, which makes httpx ignore
    HTTPS_PROXY/HTTP_PROXY: Hub downloads behind a proxy failed to resolve the Hub's name."""
    from cache_servers import ServerState, file_server

    from ecglm_cli.cache.hub import _bounded_client

    state = ServerState(files={"http://hub.example.invalid/api/x": b"ok"})
    with file_server(state) as proxy:
        for var in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        answer = _bounded_client().get("http://hub.example.invalid/api/x")
    assert answer.status_code == 200 and answer.content == b"ok"
    assert [r.path for r in state.log] == ["http://hub.example.invalid/api/x"]


def test_the_bounded_hub_client_waits_its_own_timeout_not_httpx_default(monkeypatch):
    """Built without a timeout, the client took httpx's default: a request made without one
    was cut at 5 s, with an error saying "did not answer within 30 s"."""
    from cache_servers import ServerState, file_server

    from ecglm_cli.cache.hub import _bounded_client

    body = bytes(10_000)  # two chunks, the second sent 5.5 s after the first
    state = ServerState(files={"/slow": body}, delay_s=5.5)
    with file_server(state) as server:
        for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
            monkeypatch.delenv(var, raising=False)
        answer = _bounded_client().get(f"{server.url}/slow")
    assert answer.content == body
