"""EDF/BDF files with odd or hostile headers, written byte by byte: each is read correctly or
refused with one clear reason, and no channel is read as a lead it is not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyedflib
import pytest
from pyedflib import highlevel

from ecglm_cli.errors import RecordError
from ecglm_cli.io import read_record
from ecglm_cli.io.leads import STANDARD_LEADS as STANDARD


def _field(value: object, width: int) -> bytes:
    return str(value).encode("latin-1")[:width].ljust(width)


def raw_edf(path: Path, channels: list[dict], n_records: int = 10,
            duration: object = 1) -> Path:
    """A plain EDF file. Each channel: label, unit, pmin, pmax, dmin, dmax, per_record (samples
    per data record) and digital (int samples, n_records * per_record of them)."""
    n = len(channels)
    header = (_field(0, 8) + _field("X X X X", 80) + _field("Startdate X X X X", 80)
              + _field("01.01.20", 8) + _field("00.00.00", 8) + _field(256 * (n + 1), 8)
              + _field("", 44) + _field(n_records, 8) + _field(duration, 8) + _field(n, 4))
    for key, width in (("label", 16), ("transducer", 80), ("unit", 8), ("pmin", 8),
                       ("pmax", 8), ("dmin", 8), ("dmax", 8), ("prefilter", 80),
                       ("per_record", 8), ("reserved", 32)):
        header += b"".join(_field(c.get(key, ""), width) for c in channels)
    data = bytearray()
    for r in range(n_records):
        for c in channels:
            k = int(c["per_record"])
            data += np.asarray(c["digital"][r * k:(r + 1) * k], dtype="<i2").tobytes()
    path.write_bytes(header + bytes(data))
    return path


def channel(label: str, digital: np.ndarray, per_record: int = 500, unit: str = "mV",
            pmin: float = -10, pmax: float = 10, dmin: int = -32768, dmax: int = 32767) -> dict:
    return {"label": label, "unit": unit, "pmin": pmin, "pmax": pmax, "dmin": dmin, "dmax": dmax,
            "per_record": per_record, "digital": digital}


def beats(seed: int, n: int = 5000) -> np.ndarray:
    """Digital samples of a spiky 1 Hz rhythm at 500 Hz, different for each seed."""
    t = np.arange(n) / 500
    x = np.exp(-((t + seed * 0.1) % 1.0 - 0.3) ** 2 / 0.001) * (1 + seed) * 3000
    return np.round(x).astype(np.int64)


def test_a_derivation_between_two_leads_is_not_lead_iii(tmp_path):
    """`I-II` lost its separator and became lead III; the real `ECG III` was then dropped as
    its duplicate."""
    path = raw_edf(tmp_path / "bipolar.edf", [
        channel("ECG I", beats(0)), channel("ECG II", beats(1)), channel("I-II", beats(2)),
        channel("ECG III", beats(3))])
    record = read_record(path)
    assert record.leads == ["I", "II", "I-II", "III"] and record.nonstandard == ["I-II"]
    np.testing.assert_allclose(record.signal[3], beats(3) * 20 / 65535, atol=1e-3)


def test_sleep_study_eeg_is_not_read_as_chest_leads(tmp_path):
    """`C3-REF` and `C4-REF` (EEG) became V3 and V4 and were scored as an ECG."""
    path = raw_edf(tmp_path / "psg.edf", [
        channel("C3-REF", beats(0), unit="uV"), channel("C4-REF", beats(1), unit="uV"),
        channel("ECG II", beats(2))])
    record = read_record(path)
    assert record.leads == ["II"]
    assert "EEG" in record.dropped["C3-REF"] and "EEG" in record.dropped["C4-REF"]
    bare = raw_edf(tmp_path / "psg2.edf", [
        channel("C3", beats(0)), channel("C4", beats(1)), channel("F3", beats(2)),
        channel("ECG II", beats(3))])
    assert read_record(bare).leads == ["II"]


def test_chest_leads_named_c1_to_c6_are_still_read(tmp_path):
    labels = ["I", "II", "C1", "C2", "C3", "C4", "C5", "C6"]
    path = raw_edf(tmp_path / "c.edf", [channel(label, beats(i)) for i, label in
                                        enumerate(labels)])
    assert read_record(path).leads == ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]


def test_a_channel_with_one_digital_value_is_refused(tmp_path):
    """Digital min = max made the raw counts come out as millivolts."""
    path = raw_edf(tmp_path / "flatgain.edf", [channel("ECG II", beats(0) // 3, dmin=0, dmax=0)])
    with pytest.raises(RecordError, match="'ECG II': its digital minimum and maximum are both"):
        read_record(path)


def test_samples_outside_the_digital_range_are_gaps(tmp_path):
    """A sample of 30000 in a declared range of +-1000 was extrapolated to 300 mV."""
    digital = np.zeros(5000, dtype=np.int64)
    digital[100:200] = 30000
    path = raw_edf(tmp_path / "outside.edf", [
        channel("ECG II", digital, dmin=-1000, dmax=1000)])
    record = read_record(path)
    assert np.isnan(record.signal[0, 100:200]).all()
    assert np.nanmax(np.abs(record.signal)) < 1e-9  # the rest: digital 0 is 0 mV here


def test_a_slow_channel_labelled_ecg_is_dropped_not_the_file(tmp_path):
    path = raw_edf(tmp_path / "slow.edf", [
        channel("ECG II", beats(0)), channel("ECG Rate", np.full(10, 70), per_record=1)])
    record = read_record(path)
    assert record.leads == ["II"] and "1 Hz" in record.dropped["ECG Rate"]
    alone = raw_edf(tmp_path / "only_slow.edf", [
        channel("ECG Rate", np.full(10, 70), per_record=1)])
    with pytest.raises(RecordError, match="channel 'ECG Rate': sampling rate 1 Hz"):
        read_record(alone)


def test_a_lead_whose_first_copy_is_unusable_is_read_from_its_second(tmp_path):
    """The duplicate rule ran before rates and digital ranges were checked: a first `ECG II` at
    1 Hz, or with no digital range, pushed aside the good second copy and lost lead II."""
    slow = raw_edf(tmp_path / "slow_first.edf", [
        channel("ECG II", np.full(10, 70), per_record=1), channel("ECG II", beats(1))])
    record = read_record(slow)
    assert record.leads == ["II"] and "1 Hz" in record.dropped["ECG II"]
    np.testing.assert_allclose(record.signal[0], beats(1) * 20 / 65535, atol=1e-3)
    flat = raw_edf(tmp_path / "flat_first.edf", [
        channel("ECG II", beats(0) // 3, dmin=0, dmax=0), channel("ECG II", beats(1)),
        channel("ECG I", beats(2))])
    record = read_record(flat)
    assert record.leads == ["II", "I"] and "digital minimum" in record.dropped["ECG II"]
    np.testing.assert_allclose(record.signal[0], beats(1) * 20 / 65535, atol=1e-3)


def test_a_good_first_copy_still_makes_the_second_a_duplicate(tmp_path):
    path = raw_edf(tmp_path / "twice.edf", [
        channel("ECG II", beats(0)), channel("ECG II", beats(1))])
    record = read_record(path)
    assert record.leads == ["II"] and record.dropped == {"ECG II": "duplicate of lead II"}
    np.testing.assert_allclose(record.signal[0], beats(0) * 20 / 65535, atol=1e-3)


def _edf_plus(path: Path, kind: str, patient: bytes, continuous: bool = True) -> Path:
    """A valid EDF+/BDF+ file from pyedflib, then its patient field replaced by `patient`."""
    file_type = pyedflib.FILETYPE_EDFPLUS if kind == "edf" else pyedflib.FILETYPE_BDFPLUS
    signal_header = highlevel.make_signal_header("ECG II", dimension="mV", sample_frequency=500,
                                                 physical_min=-5, physical_max=5)
    highlevel.write_edf(str(path), [np.sin(np.arange(5000) / 50.0)], [signal_header],
                        file_type=file_type)
    data = bytearray(path.read_bytes())
    data[8:88] = patient.ljust(80)
    if not continuous:
        data[196:197] = b"D"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("kind", ["edf", "bdf"])
@pytest.mark.parametrize("patient", [b"X m 01-JAN-1980 X", b"John Smith 45y",
                                     b"X M 1980-01-01 X"])
def test_an_edf_plus_file_with_a_free_text_patient_field_is_read(tmp_path, monkeypatch, kind,
                                                                  patient):
    """edflib refused the whole file ("not EDF(+) or BDF(+) compliant") for a patient field
    that breaks the EDF+ conventions, though its signals are fine."""
    import tempfile

    path = _edf_plus(tmp_path / f"export.{kind}", kind, patient)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    record = read_record(path)
    assert record.format == f"{kind}+" and record.leads == ["II"]
    np.testing.assert_allclose(record.signal[0], np.sin(np.arange(5000) / 50.0), atol=1e-3)
    assert not list((tmp_path / "tmp").iterdir())  # the plain copy is gone


def test_a_discontinuous_edf_plus_file_with_a_bad_patient_field_stays_refused(tmp_path):
    """Read as plain EDF, the pieces of an EDF+D file would be joined as if continuous."""
    path = _edf_plus(tmp_path / "pieces.edf", "edf", b"John Smith 45y", continuous=False)
    with pytest.raises(RecordError, match="not a readable EDF/BDF file"):
        read_record(path)


def test_zero_record_duration_is_named(tmp_path):
    path = raw_edf(tmp_path / "dur0.edf", [channel("ECG II", beats(0))], duration=0)
    with pytest.raises(RecordError, match="last 0 s, so it has no sampling rate"):
        read_record(path)


def test_an_overflowing_gain_is_named_as_a_gain_problem(tmp_path):
    """Physical limits of +-1e308 gave infinite samples, reported as "all-NaN"."""
    path = raw_edf(tmp_path / "inf.edf", [
        channel("ECG II", beats(0), pmin="-1e308", pmax="1e308")])
    with pytest.raises(RecordError, match="check the gain or units"):
        read_record(path)


def test_resampling_past_the_size_limit_is_refused_before_reading(tmp_path, monkeypatch):
    """One 25 kHz channel made eleven 25 Hz channels grow 1000-fold: 60 MB became 2.9 GB."""
    import ecglm_cli.io.assemble as assemble

    monkeypatch.setattr(assemble, "MAX_SAMPLES", 100_000)  # the same check, a smaller file
    leads = ["II", "I", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    fast = channel("ECG II", np.zeros(1000 * 10, dtype=np.int64), per_record=1000)
    slow = [channel(f"ECG {lead}", np.zeros(10, dtype=np.int64), per_record=1)
            for lead in leads[1:]]
    path = raw_edf(tmp_path / "amplify.edf", [fast, *slow], n_records=10, duration="0.04")
    with pytest.raises(RecordError, match="resampling its channels to 25000 Hz would give "
                                          "120000 samples"):
        read_record(path)


@pytest.mark.parametrize(("suffix", "file_type", "name"), [
    (".bdf", 2, "bdf"), (".bdf", 3, "bdf+"), (".edf", 0, "edf"), (".edf", 1, "edf+")])
def test_the_format_is_named_right(tmp_path, suffix, file_type, name):
    """BDF was reported as "edf+" and BDF+ as "bdf"."""
    path = tmp_path / f"ecg{suffix}"
    writer = pyedflib.EdfWriter(str(path), 1, file_type=file_type)
    try:
        writer.setSignalHeader(0, {"label": "ECG II", "dimension": "mV", "sample_frequency": 500,
                                   "physical_min": -10, "physical_max": 10,
                                   "digital_min": -32768, "digital_max": 32767})
        writer.writeSamples([np.sin(np.arange(5000) / 50.0)])
    finally:
        writer.close()
    assert read_record(path).format == name


@pytest.mark.parametrize(("label", "expected"), [
    ("II-I", ("II-I", False)), ("ECG I II", ("ECG I II", False)), ("V1-REF", ("V1", True)),
    ("lead_ii", ("II", True)), ("precordial 1", ("V1", True)), ("ECG 1", ("ECG1", False)),
    ("ECG C3", ("V3", True)), ("Lead C3", ("V3", True)),  # they say they are ECG leads
])
def test_lead_labels(label, expected):
    from ecglm_cli.io.leads import canonical_lead

    assert canonical_lead(label) == expected


@pytest.mark.parametrize("label", ["C3-A2", "C4-M1", "C3", "C3-REF", "C4-Cz"])
def test_eeg_labels_are_not_leads(label):
    from ecglm_cli.io.leads import canonical_lead

    with pytest.raises(ValueError, match="EEG"):
        canonical_lead(label)


def test_empty_short_and_dangling_files_say_so(tmp_path):
    """These all said "a read error occurred" or "no such file"."""
    (tmp_path / "empty.edf").write_bytes(b"")
    with pytest.raises(RecordError, match="empty file"):
        read_record(tmp_path / "empty.edf")
    (tmp_path / "short.edf").write_bytes(b"0" * 255)
    with pytest.raises(RecordError, match="too short for an EDF header"):
        read_record(tmp_path / "short.edf")
    (tmp_path / "a.edf").symlink_to(tmp_path / "b.edf")
    (tmp_path / "b.edf").symlink_to(tmp_path / "a.edf")
    with pytest.raises(RecordError, match="a link that leads nowhere"):
        read_record(tmp_path / "a.edf")


def test_a_truncated_millivolt_unit_and_a_placeholder_birth_date(tmp_path):
    """EDF's 8-character unit field cuts "millivolt" to "millivol", which was dropped as not a
    voltage; a birth date of 1850 gave an age of 169."""
    from datetime import datetime

    signal_header = highlevel.make_signal_header(
        "ECG II", dimension="millivolt", sample_frequency=500, physical_min=-10,
        physical_max=10)
    header = highlevel.make_header(birthdate=datetime(1850, 1, 1),
                                   startdate=datetime(2020, 1, 1))
    path = tmp_path / "old.edf"
    highlevel.write_edf(str(path), [np.sin(np.arange(5000) / 50.0)], [signal_header],
                        header=header)
    record = read_record(path)
    assert record.leads == ["II"] and record.meta["age"] is None
    np.testing.assert_allclose(record.signal[0], np.sin(np.arange(5000) / 50.0), atol=1e-3)


@pytest.mark.parametrize("spelling", ["ECG C{}", "Lead C{}", "C{}-REF", "C{}"])
def test_a_12_lead_export_naming_its_chest_leads_c1_to_c6(spelling):
    """The first C1-C6 rule missed the `ECG`/`Lead` prefix and refused a reference suffix, so
    these chest leads were lost (a review of this stop's changes)."""
    from ecglm_cli.io.channels import select_ecg_channels

    names = ["I", "II", "III", "aVR", "aVL", "aVF", *(spelling.format(n) for n in range(1, 7))]
    _, leads, _, dropped = select_ecg_channels(names, ["mV"] * 12)
    assert leads == list(STANDARD) and dropped == {}


def test_chest_leads_named_c_by_the_user_are_chest_leads():
    """`--input-leads C1,C2` names two chest leads, whatever the file-level rule says."""
    from ecglm_cli.cli.common import parse_input_leads

    assert parse_input_leads("C1,C2,MLII") == ["V1", "V2", "II"]
