"""Shared test fixtures: where the real data lives (skipped when absent), synthetic records
written with wfdb.wrsamp / pyedflib / numpy, and a corpus of malformed files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from ecglm_cli.io.leads import STANDARD_LEADS
from ecglm_cli.signal.synthetic import synthetic_ecg

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# formats wfdb.wrsamp writes directly; 61, 160 and 311 are written by hand below
WFDB_WRITTEN_FORMATS = ("16", "24", "32", "80", "212", "516", "524")
WFDB_HAND_FORMATS = ("61", "160", "311")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` beside the checkout; tests that need it skip with a reason without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (tests with real records skipped)")
    return SHARED_DATA


def cli_env() -> dict[str, str]:
    """Environment for running `python -m ecglm_cli` from this checkout in a subprocess."""
    return {**os.environ, "PYTHONPATH": str(REPO)}


def interrupt_before(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> None:
    """Make `module.name` receive a Ctrl-C (SIGINT) just before it does its work."""
    import signal

    original = getattr(module, name)

    def interrupted(*args: object, **kwargs: object) -> object:
        os.kill(os.getpid(), signal.SIGINT)
        sum(range(100000))  # the handler runs here, before the work
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, interrupted)


def write_wfdb(
    folder: Path, name: str, signal: np.ndarray, fs: float, leads: list[str], fmt: str = "16",
    units: str = "mV", comments: list[str] | None = None,
) -> Path:
    """Write `signal` [leads, samples] (in `units`) as a WFDB record; returns the .hea path."""
    import wfdb

    gain = {"80": 50.0, "508": 50.0}.get(fmt, 200.0) * {"mV": 1.0, "uV": 1e-3, "V": 1e3}[units]
    wfdb.wrsamp(
        name, fs=fs, units=[units] * len(leads), sig_name=list(leads),
        p_signal=signal.T.astype(np.float64), fmt=[fmt] * len(leads),
        adc_gain=[gain] * len(leads), baseline=[0] * len(leads), comments=comments,
        write_dir=str(folder),
    )
    return folder / f"{name}.hea"


def write_wfdb_by_hand(folder: Path, name: str, signal: np.ndarray, fs: float,
                       leads: list[str], fmt: str) -> Path:
    """Formats wfdb cannot write (61 big-endian, 160 offset binary, 311 10-bit packed)."""
    gain = 200.0
    digital = np.round(signal.T * gain).astype(np.int64)  # [samples, leads], interleaved
    flat = digital.reshape(-1)
    if fmt == "61":
        data = flat.astype(">i2").tobytes()
    elif fmt == "160":
        data = (flat + 32768).astype("<u2").tobytes()
    else:  # 311: three 10-bit two's-complement samples in each little-endian 32-bit word
        flat = np.concatenate([flat, np.zeros((-len(flat)) % 3, dtype=np.int64)])
        parts = (flat & 0x3FF).reshape(-1, 3)
        words = parts[:, 0] | (parts[:, 1] << 10) | (parts[:, 2] << 20)
        data = words.astype("<u4").tobytes()
    (folder / f"{name}.dat").write_bytes(data)
    lines = [f"{name} {len(leads)} {fs:g} {signal.shape[1]}"]
    lines += [f"{name}.dat {fmt} {gain:g}/mV 16 0 0 0 0 {lead}" for lead in leads]
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return folder / f"{name}.hea"


def write_edf(path: Path, channels: list[tuple[str, np.ndarray, int, str]]) -> Path:
    """EDF+/BDF+ (by extension) from (label, signal, rate, unit) tuples."""
    from pyedflib import highlevel

    headers = []
    for label, x, rate, unit in channels:
        span = float(np.ceil(np.max(np.abs(x)) * 1.2 + 1.0))  # few digits: EDF has 8 chars
        headers.append(highlevel.make_signal_header(
            label, dimension=unit, sample_frequency=rate, physical_min=-span, physical_max=span,
            digital_min=-8388608 if path.suffix == ".bdf" else -32768,
            digital_max=8388607 if path.suffix == ".bdf" else 32767,
        ))
    header = highlevel.make_header(patientname="anonymous", sex="Female")
    signals = [np.ascontiguousarray(c[1], dtype=np.float64) for c in channels]
    highlevel.write_edf(str(path), signals, headers, header=header)
    return path


def write_sidecar(path: Path, **content: object) -> None:
    path.with_suffix(".json").write_text(json.dumps(content))


@pytest.fixture(scope="session")
def ecg12() -> np.ndarray:
    """A 12-lead, 10 s, 500 Hz synthetic ECG in mV."""
    return synthetic_ecg(fs=500, seconds=10, seed=1)


@pytest.fixture(scope="session")
def record_files(tmp_path_factory: pytest.TempPathFactory, ecg12: np.ndarray) -> dict[str, Path]:
    """Valid synthetic records in every supported container, written once per session."""
    folder = tmp_path_factory.mktemp("records")
    leads = list(STANDARD_LEADS)
    short = ecg12[:, :2500]  # 5 s keeps the files small
    files: dict[str, Path] = {}
    for fmt in WFDB_WRITTEN_FORMATS:
        files[f"wfdb_{fmt}"] = write_wfdb(folder, f"fmt{fmt}", short, 500, leads, fmt)
    for fmt in WFDB_HAND_FORMATS:
        files[f"wfdb_{fmt}"] = write_wfdb_by_hand(folder, f"fmt{fmt}", short[:3], 500,
                                                  leads[:3], fmt)
    files["wfdb_uv"] = write_wfdb(folder, "microvolts", short * 1000, 500, leads, units="uV")
    files["wfdb_v"] = write_wfdb(folder, "volts", short / 1000, 500, leads, units="V")
    files["wfdb_meta"] = write_wfdb(
        folder, "meta", short, 500, leads, comments=["<age>: 63 <sex>: F", "test record"]
    )
    files["wfdb_multiseg"] = _multisegment(folder, short[:2])
    files["wfdb_multifreq"] = _multifrequency(folder, ecg12[1], fs_frame=250)

    edf_channels = [(f"ECG {lead}", short[i] * 1000, 500, "uV") for i, lead in enumerate(leads)]
    files["edf"] = write_edf(folder / "ecg.edf", edf_channels + [
        ("Pleth", np.sin(np.arange(1000) / 20.0) * 50, 200, "NU"),
    ])
    files["bdf"] = write_edf(folder / "ecg.bdf", [
        ("II", short[1], 500, "mV"), ("V1", short[6], 500, "mV"),
        ("Resp", np.sin(np.arange(125) / 5.0), 25, "NU"),
    ])
    # ECG leads at two different rates: both end up at the higher one
    files["edf_rates"] = write_edf(folder / "rates.edf", [
        ("ECG II", short[1], 500, "mV"), ("ECG V2", short[7, ::2], 250, "mV"),
    ])

    files["npy_sidecar"] = _save(folder / "sidecar.npy", short)
    write_sidecar(files["npy_sidecar"], fs=500, leads=leads)
    files["npy_transposed"] = _save(folder / "transposed.npy", short.T.copy())
    write_sidecar(files["npy_transposed"], fs=500, leads=leads)
    files["npy_bare"] = _save(folder / "bare.npy", short)
    files["npz"] = folder / "arrays.npz"
    np.savez(files["npz"], signal=short)
    write_sidecar(files["npz"], fs=500, leads=leads, units="uV")
    files["csv_header"] = folder / "header.csv"
    _write_csv(files["csv_header"], short[:3], header=["I", "II", "V1"])
    write_sidecar(files["csv_header"], fs=500)
    files["csv_bare"] = folder / "bare.csv"
    _write_csv(files["csv_bare"], short[:2], header=None)
    return files


def _save(path: Path, x: np.ndarray) -> Path:
    np.save(path, x)
    return path


def _write_csv(path: Path, x: np.ndarray, header: list[str] | None) -> None:
    rows = [",".join(header)] if header else []
    rows += [",".join(f"{v:.4f}" for v in column) for column in x.T]
    path.write_text("\n".join(rows) + "\n")


def _multisegment(folder: Path, x: np.ndarray) -> Path:
    """Two segments of a fixed-layout multi-segment record ('~' gap not used)."""
    import wfdb

    half = x.shape[1] // 2
    write_wfdb(folder, "multi_1", x[:, :half], 500, ["I", "II"])
    write_wfdb(folder, "multi_2", x[:, half:], 500, ["I", "II"])
    record = wfdb.MultiRecord(
        record_name="multi", n_sig=2, fs=500, sig_len=x.shape[1],
        seg_name=["multi_1", "multi_2"], seg_len=[half, x.shape[1] - half],
    )
    record.n_seg = 2  # wrheader needs it; the constructor does not set it
    record.wrheader(write_dir=str(folder))
    return folder / "multi.hea"


def _multifrequency(folder: Path, lead_ii: np.ndarray, fs_frame: int) -> Path:
    """Lead II at 2 samples per frame (500 Hz), V1 at 1 (250 Hz), RESP at 1."""
    import wfdb

    n = len(lead_ii) // 2
    signals = [lead_ii[: 2 * n].astype(np.float64), lead_ii[: 2 * n : 2].astype(np.float64),
               np.sin(np.arange(n) / 10.0)]
    wfdb.wrsamp(
        "multifreq", fs=fs_frame, units=["mV", "mV", "NU"], sig_name=["II", "V1", "RESP"],
        e_p_signal=signals, samps_per_frame=[2, 1, 1], fmt=["16"] * 3,
        adc_gain=[200.0, 200.0, 100.0], baseline=[0] * 3, write_dir=str(folder),
    )
    return folder / "multifreq.hea"


@pytest.fixture(scope="session")
def malformed_files(tmp_path_factory: pytest.TempPathFactory, record_files: dict[str, Path],
                    ecg12: np.ndarray) -> dict[str, Path]:
    """Bad inputs of every kind the readers must refuse with one clear error (>= 20 files)."""
    folder = tmp_path_factory.mktemp("malformed")
    rng = np.random.default_rng(0)
    x = ecg12[:2, :1000]
    bad: dict[str, Path] = {}

    def copy_wfdb(key: str, name: str) -> Path:
        source = record_files[key]
        for suffix in (".hea", ".dat"):
            text = source.with_suffix(suffix).read_bytes()
            if suffix == ".hea":
                text = text.replace(source.stem.encode(), name.encode())
            (folder / f"{name}{suffix}").write_bytes(text)
        return folder / f"{name}.hea"

    bad["missing_file"] = folder / "does_not_exist.hea"
    bad["missing_edf"] = folder / "does_not_exist.edf"
    bad["dat_missing"] = copy_wfdb("wfdb_16", "nodat")
    (folder / "nodat.dat").unlink()
    bad["dat_truncated"] = copy_wfdb("wfdb_16", "truncated")
    data = (folder / "truncated.dat").read_bytes()
    (folder / "truncated.dat").write_bytes(data[: len(data) // 3])
    bad["dat_given_header_missing"] = folder / "orphan.dat"
    bad["dat_given_header_missing"].write_bytes(data[:1000])
    bad["header_garbage"] = folder / "garbage.hea"
    bad["header_garbage"].write_text("this is not a WFDB header\nat all\n")
    bad["header_bad_numbers"] = folder / "badnum.hea"
    bad["header_bad_numbers"].write_text("badnum two 500 1000\nbadnum.dat 16 200 16 0 0 0 0 I\n")
    bad["header_fs_zero"] = copy_wfdb("wfdb_16", "fszero")
    text = bad["header_fs_zero"].read_text().splitlines()
    text[0] = text[0].replace(" 500 ", " 0 ")
    bad["header_fs_zero"].write_text("\n".join(text) + "\n")
    bad["header_huge_length"] = copy_wfdb("wfdb_16", "huge")
    text = bad["header_huge_length"].read_text().splitlines()
    text[0] = "huge 12 500 900000000000"
    bad["header_huge_length"].write_text("\n".join(text) + "\n")
    bad["header_zero_length"] = folder / "zero.hea"
    bad["header_zero_length"].write_text("zero 1 500 0\nzero.dat 16 200 16 0 0 0 0 II\n")
    (folder / "zero.dat").write_bytes(b"")
    bad["header_empty"] = folder / "empty.hea"
    bad["header_empty"].write_bytes(b"")

    bad["edf_no_ecg"] = write_edf(folder / "noecg.edf", [
        ("Pleth", np.sin(np.arange(500) / 9.0), 100, "NU"),
        ("Resp", np.cos(np.arange(125) / 5.0), 25, "NU"),
    ])
    bad["edf_truncated"] = folder / "cut.edf"
    edf = record_files["edf"].read_bytes()
    bad["edf_truncated"].write_bytes(edf[: len(edf) // 2])
    bad["edf_empty"] = folder / "empty.edf"
    bad["edf_empty"].write_bytes(b"")

    bad["csv_ragged"] = folder / "ragged.csv"
    bad["csv_ragged"].write_text("I,II\n0.1,0.2\n0.3\n0.4,0.5\n")
    write_sidecar(bad["csv_ragged"], fs=500)
    bad["csv_zero_length"] = folder / "header_only.csv"
    bad["csv_zero_length"].write_text("I,II\n")
    write_sidecar(bad["csv_zero_length"], fs=500)
    bad["csv_all_nan"] = folder / "allnan.csv"
    bad["csv_all_nan"].write_text("I,II\n" + "nan,\n" * 50)
    write_sidecar(bad["csv_all_nan"], fs=500)
    bad["csv_text"] = folder / "words.csv"
    bad["csv_text"].write_text("I,II\n0.1,abc\n")
    write_sidecar(bad["csv_text"], fs=500)

    bad["npy_all_nan"] = folder / "allnan.npy"
    np.save(bad["npy_all_nan"], np.full((2, 1000), np.nan))
    write_sidecar(bad["npy_all_nan"], fs=500, leads=["I", "II"])
    bad["npy_fs_zero"] = folder / "fszero.npy"
    np.save(bad["npy_fs_zero"], x)
    write_sidecar(bad["npy_fs_zero"], fs=0, leads=["I", "II"])
    bad["npy_fs_negative"] = folder / "fsneg.npy"
    np.save(bad["npy_fs_negative"], x)
    write_sidecar(bad["npy_fs_negative"], fs=-500, leads=["I", "II"])
    bad["npy_zero_length"] = folder / "empty_array.npy"
    np.save(bad["npy_zero_length"], np.zeros((2, 0)))
    write_sidecar(bad["npy_zero_length"], fs=500, leads=["I", "II"])
    bad["npy_no_sidecar"] = folder / "nosidecar.npy"
    np.save(bad["npy_no_sidecar"], x)
    bad["npy_huge_shape"] = folder / "hugeshape.npy"
    with open(bad["npy_huge_shape"], "wb") as out:  # a header that declares 16 TB
        np.lib.format.write_array_header_1_0(
            out, {"descr": "<f8", "fortran_order": False, "shape": (2, 10**12)}
        )
        out.write(x.astype("<f8").tobytes())
    write_sidecar(bad["npy_huge_shape"], fs=500, leads=["I", "II"])
    bad["npy_object"] = folder / "objects.npy"
    np.save(bad["npy_object"], np.array([{"a": 1}], dtype=object), allow_pickle=True)
    write_sidecar(bad["npy_object"], fs=500, leads=["I"])
    bad["sidecar_broken"] = folder / "brokenside.npy"
    np.save(bad["sidecar_broken"], x)
    bad["sidecar_broken"].with_suffix(".json").write_text("{fs: 500,")

    bad["unsupported_txt"] = folder / "notes.txt"
    bad["unsupported_txt"].write_text("an ECG, probably\n")
    bad["unsupported_none"] = folder / "noextension"
    bad["unsupported_none"].write_bytes(b"\x00\x01")
    bad["directory"] = folder / "a_directory"
    bad["directory"].mkdir()
    bad["directory_named_hea"] = folder / "folder.hea"
    bad["directory_named_hea"].mkdir()

    for suffix in (".hea", ".edf", ".bdf", ".npy", ".npz", ".csv", ".mat"):
        path = folder / f"random{suffix.replace('.', '_')}{suffix}"
        path.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
        if suffix in (".npy", ".npz", ".csv"):
            write_sidecar(path, fs=500, leads=["I", "II"])
        bad[f"random_bytes{suffix.replace('.', '_')}"] = path
    bad["random_bytes_dat"] = folder / "random_dat.dat"  # and no header beside it
    bad["random_bytes_dat"].write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    # a short run of random bytes as the signal file of a good header
    bad["random_short_dat"] = copy_wfdb("wfdb_212", "randomdat")
    size = (folder / "randomdat.dat").stat().st_size
    noise = rng.integers(0, 256, size // 4, dtype=np.uint8)
    (folder / "randomdat.dat").write_bytes(noise.tobytes())
    return bad
