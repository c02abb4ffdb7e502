"""Real HTTP servers on 127.0.0.1 for the cache tests: a file server and a small Hub look-alike.

Both run `http.server` in a thread and log every request, so tests can check what a download
actually asked for (Range headers, which files, how many times).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Request:
    method: str
    path: str
    range: str | None


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    support_range: bool = True
    drop_after: int | None = None  # the next GET sends only this many bytes, then hangs up
    delay_s: float = 0.0  # pause between chunks, so that concurrent clients overlap
    log: list[Request] = field(default_factory=list)


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler], state: object):
        self.state = state
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.state = state  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _send_body(self, body: bytes, delay_s: float = 0.0, drop_after: int | None = None) -> None:
        limit = len(body) if drop_after is None else drop_after
        for start in range(0, limit, 8192):
            self.wfile.write(body[start:min(start + 8192, limit)])
            if delay_s:
                time.sleep(delay_s)
        self.wfile.flush()
        if drop_after is not None:
            self.close_connection = True


class FileHandler(_Quiet):
    def do_GET(self) -> None:
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        state.log.append(Request("GET", self.path, self.headers.get("Range")))
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and state.support_range:
            start = int(match.group(1))
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        part = body[start:]
        self.send_header("Content-Length", str(len(part)))
        if state.support_range:
            self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        drop, state.drop_after = state.drop_after, None
        self._send_body(part, state.delay_s, drop)


def file_server(state: ServerState) -> _Server:
    return _Server(FileHandler, state)


# -- a Hub look-alike -------------------------------------------------------------------------

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


@dataclass
class HubState:
    repo_id: str
    files: dict[str, bytes]
    listed_names: dict[str, str] = field(default_factory=dict)  # listed name -> served file
    tamper: set[str] = field(default_factory=set)  # served with content unlike the listing
    late: dict[str, bytes] = field(default_factory=dict)  # listed from the second tree listing
    endless: set[str] = field(default_factory=set)  # streamed without end or Content-Length
    drip_s: dict[str, float] = field(default_factory=dict)  # name -> pause between 100 bytes
    retry_after: dict[str, int] = field(default_factory=dict)  # name -> 429 with Retry-After
    stall: set[str] = field(default_factory=set)  # "revision", "tree" or a file: never answered
    tree_listings: int = 0
    log: list[Request] = field(default_factory=list)

    @classmethod
    def from_folder(cls, repo_id: str, folder: Path, extra: dict[str, bytes] | None = None):
        files = {p.relative_to(folder).as_posix(): p.read_bytes()
                 for p in sorted(folder.rglob("*")) if p.is_file()}
        files.update(extra or {})
        return cls(repo_id, files)

    def tree(self) -> list[dict]:
        entries = []
        names = {**{n: n for n in self.files}, **self.listed_names}
        for listed, served in names.items():
            data = self.files[served]
            entry = {"type": "file", "path": listed, "size": len(data), "oid": git_blob_id(data)}
            if listed.endswith((".safetensors", ".bin")):  # LFS files, as on the Hub
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data),
                                "pointerSize": 134}
            entries.append(entry)
        return entries


class HubHandler(_Quiet):
    """Answers what huggingface_hub's snapshot_download asks: revision info, the recursive
    tree listing, and HEAD/GET on /{repo}/resolve/{revision}/{file}."""

    def _json(self, data: object) -> None:
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str) -> None:
        state: HubState = self.server.state  # type: ignore[attr-defined]
        state.log.append(Request(method, self.path, self.headers.get("Range")))
        path = self.path.split("?", 1)[0]
        repo = state.repo_id
        if path in (f"/api/models/{repo}/revision/main", f"/api/models/{repo}/revision/{COMMIT}"):
            self._stall_if("revision")
            self._json({"id": repo, "sha": COMMIT,
                        "siblings": [{"rfilename": e["path"]} for e in state.tree()]})
            return
        if path == f"/api/models/{repo}/tree/{COMMIT}":
            self._stall_if("tree")
            state.tree_listings += 1
            if state.tree_listings == 2:  # a listing that changes under the client
                state.files.update(state.late)
            self._json(state.tree())
            return
        prefix = f"/{repo}/resolve/{COMMIT}/"
        name = path[len(prefix):] if path.startswith(prefix) else None
        if name is None or name not in state.files:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if name in state.retry_after:
            self.send_response(429)
            self.send_header("Retry-After", str(state.retry_after[name]))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._stall_if(name)
        data = state.files[name]
        if name in state.tamper:
            data = bytes(len(data))
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        if name.endswith((".safetensors", ".bin")):
            self.send_header("X-Linked-Etag", f'"{hashlib.sha256(state.files[name]).hexdigest()}"')
            self.send_header("X-Linked-Size", str(len(data)))
        self.send_header("ETag", f'"{git_blob_id(state.files[name])}"')
        if name not in state.endless:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if method != "GET":
            return
        try:
            if name in state.endless:
                self.close_connection = True
                while True:
                    self.wfile.write(bytes(1 << 16))
            elif name in state.drip_s:
                for start in range(0, len(data), 100):
                    self.wfile.write(data[start:start + 100])
                    self.wfile.flush()
                    time.sleep(state.drip_s[name])
            else:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up
            pass

    def _stall_if(self, what: str) -> None:
        """Accept the request and never answer it (the client must give up by itself)."""
        if what in self.server.state.stall:  # type: ignore[attr-defined]
            time.sleep(3600)

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_GET(self) -> None:
        self._handle("GET")


def hub_server(state: HubState) -> _Server:
    return _Server(HubHandler, state)
