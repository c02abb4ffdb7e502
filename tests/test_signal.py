"""Preprocessing functions: resampling, filters, NaN gaps, windows, and the synthetic ECG."""

from __future__ import annotations

import numpy as np
import pytest

from ecglm_cli.signal.filters import bandpass, remove_baseline
from ecglm_cli.signal.gaps import fill_gaps
from ecglm_cli.signal.resample import resample
from ecglm_cli.signal.synthetic import synthetic_ecg
from ecglm_cli.signal.windows import pad_or_crop, window_starts, windows


def _sine(freq: float, fs: float, seconds: float = 4.0) -> np.ndarray:
    return np.sin(2 * np.pi * freq * np.arange(int(fs * seconds)) / fs).astype(np.float32)


@pytest.mark.parametrize(("fs_in", "fs_out"), [(500, 100), (360, 500), (1000, 250), (250, 500)])
def test_resample_keeps_an_in_band_sine(fs_in, fs_out):
    y = resample(_sine(5, fs_in)[None], fs_in, fs_out)
    assert y.shape == (1, 4 * fs_out) and y.dtype == np.float32
    np.testing.assert_allclose(y[0, 50:-50], _sine(5, fs_out)[50:-50], atol=0.01)


@pytest.mark.parametrize("fs_in", [150_000, 1_500_000])
def test_resample_far_down_keeps_the_duration(fs_in):
    """Beyond a factor of 1000 the ratio used to be rounded: 10 s at 150 kHz came out as 15 s
    at 100 Hz, and 1.5 MHz failed with scipy's "up and down must be >= 1"."""
    y = resample(np.zeros((1, fs_in * 10), dtype=np.float32), fs_in, 100)
    assert y.shape == (1, 1000)


def test_resample_removes_what_the_new_rate_cannot_hold():
    y = resample(_sine(80, 500)[None], 500, 100)  # 80 Hz is above the new Nyquist (50 Hz)
    assert np.abs(y[0, 50:-50]).max() < 0.05


def test_resample_same_rate_and_bad_rates():
    x = _sine(5, 100)[None]
    assert resample(x, 100, 100) is not None and resample(x, 100, 100).shape == x.shape
    with pytest.raises(ValueError):
        resample(x, 0, 100)


def test_remove_baseline_drops_wander_and_keeps_qrs():
    ecg = synthetic_ecg(fs=500, seconds=10, noise_mv=0.0)[1]
    wander = 0.8 * _sine(0.1, 500, 10) + 0.5
    cleaned = remove_baseline(ecg + wander, 500)
    assert abs(float(np.median(cleaned))) < 0.1
    assert np.corrcoef(cleaned[500:-500], remove_baseline(ecg, 500)[500:-500])[0, 1] > 0.98


def test_bandpass_passes_ecg_band_and_stops_mains_hum():
    fs = 500
    hum, ecg_band = _sine(50, fs, 10)[None], _sine(10, fs, 10)[None]
    assert np.abs(bandpass(hum, fs)[0, 1000:-1000]).max() < 0.2  # away from edge transients
    assert np.abs(bandpass(ecg_band, fs)[0, 1000:-1000]).max() > 0.9
    low = bandpass(_sine(10, 100)[None], 100)  # the upper edge is capped below Nyquist
    assert np.isfinite(low).all()
    with pytest.raises(ValueError):
        bandpass(_sine(10, 100)[None], 100, low_hz=60)


def test_filters_accept_very_short_signals():
    assert remove_baseline(np.ones((2, 5)), 500).shape == (2, 5)


def test_fill_gaps_interpolates_short_gaps():
    x = np.linspace(0, 1, 1000, dtype=np.float32)[None].repeat(2, 0)
    x[0, 100:150] = np.nan  # 0.1 s at 500 Hz
    y = fill_gaps(x, 500)
    assert not np.isnan(y).any()
    np.testing.assert_allclose(y[0, 100:150], np.linspace(0, 1, 1000)[100:150], atol=1e-5)


def test_fill_gaps_flattens_long_gaps_at_the_baseline_and_empty_leads_at_zero():
    """At 0 mV, a long gap in a lead sitting at +3 mV became a -3 mV plateau for the model."""
    x = 3.0 + 0.1 * _sine(5.0, 500.0, seconds=2.0)[None].repeat(4, 0)
    x[0, 100:300] = np.nan  # 0.4 s: too long to make up
    x[1, :400] = np.nan
    x[2] = np.nan
    y = fill_gaps(x, 500)
    baseline = np.median(x[0, np.isfinite(x[0])])
    assert np.allclose(y[0, 100:300], baseline) and abs(baseline - 3.0) < 0.05
    assert (y[0, 300:] == x[0, 300:]).all()
    assert np.allclose(y[1, :400], np.median(x[1, 400:]))
    assert (y[2] == 0).all()


def test_fill_gaps_edges_take_the_nearest_value():
    x = np.full(100, 2.0, dtype=np.float32)
    x[:5] = np.nan
    assert (fill_gaps(x, 100) == 2.0).all()


def test_fill_gaps_rejects_mostly_missing_records():
    x = np.full((3, 100), np.nan, dtype=np.float32)
    x[0] = 1.0
    x[1:, :20] = 1.0  # leads 2 and 3 miss 80 % of what lead 1 has
    with pytest.raises(ValueError, match="53% of samples are missing"):
        fill_gaps(x, 100)
    x[1:, :60] = 1.0
    assert not np.isnan(fill_gaps(x, 100)).any()
    x = np.full((2, 100), np.nan, dtype=np.float32)
    x[:, :40] = 1.0  # lost in every lead at once: a gap, for the windows policy
    assert not np.isnan(fill_gaps(x, 100)).any()


def test_pad_or_crop():
    x = np.arange(10, dtype=np.float32)[None]
    assert pad_or_crop(x, 4).tolist() == [[0, 1, 2, 3]]
    assert pad_or_crop(x, 12)[0, 10:].tolist() == [0, 0]
    with pytest.raises(ValueError):
        pad_or_crop(x, 0)


def test_window_starts_cover_the_recording_without_padding():
    assert window_starts(100, 30, 30) == [0, 30, 60, 70]
    assert window_starts(90, 30, 30) == [0, 30, 60]
    assert window_starts(20, 30, 30) == [0]
    assert window_starts(100, 30, 10)[-1] == 70


def test_windows_shapes_and_content():
    x = np.arange(2 * 25, dtype=np.float32).reshape(2, 25)
    w = windows(x, fs=1, seconds=10)
    assert w.shape == (3, 2, 10)
    assert w[-1, 0, -1] == x[0, -1] and w[1, 1, 0] == x[1, 10]
    short = windows(x[:, :4], fs=1, seconds=10)
    assert short.shape == (1, 2, 10) and short[0, 0, 4:].sum() == 0


def test_synthetic_ecg_obeys_einthoven_and_is_plausible():
    x = synthetic_ecg(fs=500, seconds=10, noise_mv=0.0)
    lead_i, lead_ii, lead_iii, avr, avl, avf = x[:6]
    np.testing.assert_allclose(lead_iii, lead_ii - lead_i, atol=1e-5)
    np.testing.assert_allclose(avr, -(lead_i + lead_ii) / 2, atol=1e-5)
    np.testing.assert_allclose(avl + avf, lead_i / 2 + lead_ii / 2, atol=1e-5)
    peaks = np.flatnonzero((lead_ii[1:-1] > lead_ii[:-2]) & (lead_ii[1:-1] >= lead_ii[2:])
                           & (lead_ii[1:-1] > 0.6))
    assert 10 <= len(peaks) <= 13  # ~70 bpm over 10 s
    assert x[6].min() < -0.3 and x[11].max() > 0.6  # deep S in V1, tall R in V6
    assert not np.array_equal(synthetic_ecg(seed=1), synthetic_ecg(seed=2))


def test_model_input_interpolates_a_short_gap_instead_of_smearing_it():
    from ecglm_cli.examples import example_record_path
    from ecglm_cli.io import read_record
    from ecglm_cli.pipeline.prepare import to_model_array

    class Spec:
        fs, window, stride = 100.0, 500, 250

    record = read_record(example_record_path())  # 500 Hz
    clean, _ = to_model_array(record, Spec)
    record.signal[:, 2000:2025] = np.nan  # a 50 ms gap in every lead
    gapped, mask = to_model_array(record, Spec)
    assert mask.all() and np.isfinite(gapped).all()
    # no sample around the gap is blanked to 0 mV: the gap was interpolated, not smeared
    assert ((gapped == 0) & (clean != 0)).sum() == 0
    assert np.abs(gapped - clean).max() < 0.5


def test_an_offset_lead_resampled_has_no_step_at_its_edges():
    """Zero padding made a step at each end of a lead sitting at +300 mV, which rang through
    the filter: the model read +-10 mV in the first samples."""
    x = 300.0 + 0.5 * _sine(7.0, 500.0)
    y = resample(x, 500.0, 100.0)
    assert np.abs(y - 300.0).max() < 0.6


def test_model_input_of_a_short_record_is_refused_and_of_a_mostly_missing_lead_is_left_out():
    """A 2 s record, zero-padded to the 5 s window, was scored conduction disturbance 0.96."""
    from ecglm_cli.errors import RecordError
    from ecglm_cli.io.leads import STANDARD_LEADS
    from ecglm_cli.io.record import ECGRecord
    from ecglm_cli.pipeline.prepare import to_model_array, to_model_windows, usable_leads
    from ecglm_cli.signal.quality import quality_flags

    class Spec:
        fs, window, stride = 100.0, 500, 250

    def record(seconds: float) -> ECGRecord:
        leads = list(STANDARD_LEADS)
        return ECGRecord(signal=synthetic_ecg(fs=500.0, seconds=seconds), fs=500.0, leads=leads,
                         original_leads=leads, source="r.hea", format="test")

    short = record(3.99)
    with pytest.raises(RecordError, match=r"r.hea: record too short for the model \(3.99 s "
                                          r"recorded in the leads read; at least 4.0 s needed"):
        to_model_windows(short, Spec, None, quality_flags(short))
    enough = record(4.0)
    assert to_model_windows(enough, Spec, None, quality_flags(enough))[1].all()
    half = record(5.0)  # 2.5 s of signal and 2.5 s missing in every lead: the same as 2.5 s
    half.signal[:, 1250:] = np.nan
    with pytest.raises(RecordError, match=r"\(2.50 s recorded in the leads read"):
        to_model_windows(half, Spec, None, quality_flags(half))
    gappy = record(10.0)
    gappy.signal[6:, :4000] = np.nan  # V1-V6 80 % missing
    _, mask = to_model_array(gappy, Spec)
    quality = quality_flags(gappy)
    assert quality["missing_leads"] == list(STANDARD_LEADS[6:])
    used = usable_leads(gappy, mask, None, quality)
    assert [lead for lead, keep in zip(STANDARD_LEADS, used, strict=True) if keep] == \
        list(STANDARD_LEADS[:6])


def test_a_record_without_gaps_is_not_copied_to_fill_them():
    """A 24-hour record took a second full copy in prepare; now only a gap makes one."""
    x = np.ones((2, 1000), dtype=np.float32)
    assert fill_gaps(x, 100) is x
    x[0, 10] = np.nan
    filled = fill_gaps(x, 100)
    assert filled is not x and np.isnan(x[0, 10]) and filled[0, 10] == 1.0


def test_quality_of_a_long_record_matches_its_blocks():
    """Leads longer than NOISE_BLOCK_S are checked block by block (a 24-hour Holter record took
    3.6 GB in one FFT of every lead); a steady signal gives the same flags either way."""
    from ecglm_cli.io.record import ECGRecord
    from ecglm_cli.signal.quality import NOISE_BLOCK_S, quality_flags
    from ecglm_cli.signal.synthetic import synthetic_ecg

    fs = 250.0
    short = synthetic_ecg(fs=fs, seed=1)
    reps = int(np.ceil(3 * NOISE_BLOCK_S * fs / short.shape[1]))
    clean = np.tile(short, reps)
    noisy = clean + np.random.default_rng(0).normal(0, 0.5, clean.shape).astype(np.float32)
    for signal, noisy_leads in ((clean, []), (noisy, ["I", "II"])):
        record = ECGRecord(signal=signal[:2], fs=fs, leads=["I", "II"],
                           original_leads=["I", "II"], source="x", format="npy",
                           units=["mV", "mV"])
        assert quality_flags(record)["noisy_leads"] == noisy_leads


def test_windows_mostly_missing_in_every_lead_are_not_scored():
    """The last 3 s of a 10 s normal ECG missing in every lead took NORM from 0.999 to 0.67:
    the window over them was scored as a flat line."""
    from ecglm_cli.io.leads import STANDARD_LEADS
    from ecglm_cli.io.record import ECGRecord
    from ecglm_cli.pipeline.prepare import to_model_windows
    from ecglm_cli.signal.quality import quality_flags

    class Spec:
        fs, window, stride = 100.0, 500, 250

    leads = list(STANDARD_LEADS)

    def windows(signal: np.ndarray, read: list[str] | None = None):
        record = ECGRecord(signal=signal, fs=500.0, leads=leads, original_leads=leads,
                           source="r", format="t")
        return to_model_windows(record, Spec, read, quality_flags(record))

    signal = synthetic_ecg(fs=500.0, seconds=10.0)
    intact = windows(signal)
    signal[:, -1500:] = np.nan
    gapped = windows(signal)
    assert len(intact.windows) == 3 and len(gapped.windows) == 2 and gapped.mask.all()
    assert (intact.coverage, gapped.coverage) == (1.0, 0.75)
    # only the leads read count: a flat lead III, or chest leads outside --leads, that still
    # have the missing stretch brought the gap window back
    flat_iii = signal.copy()
    flat_iii[2] = 0.0
    assert len(windows(flat_iii)[0]) == 2
    chest_gap = synthetic_ecg(fs=500.0, seconds=10.0)
    chest_gap[6:, -1500:] = np.nan
    assert len(windows(chest_gap, list(STANDARD_LEADS[6:]))[0]) == 2
    # the windows starting at 0 and 2.5 s, as they were up to the gap at 7 s
    assert np.abs(gapped.windows[:, :, :450] - intact.windows[:2, :, :450]).max() < 0.05
    signal = synthetic_ecg(fs=500.0, seconds=10.0)
    for start_s in (0.5, 3.0, 6.0, 8.5):  # 1 s gaps: each window 60 % recorded, all are kept
        signal[:, int(start_s * 500):int(start_s * 500) + 500] = np.nan
    assert len(windows(signal)[0]) == 3


def test_a_long_record_whose_start_was_lost_in_every_lead_is_scored_on_the_rest():
    """A 30-minute record whose first 20 minutes were lost in every lead was refused ("66% of
    samples are missing"), and every lead flagged as missing, though 10 good minutes remained
    (the measurements measured them)."""
    from ecglm_cli.io.leads import STANDARD_LEADS
    from ecglm_cli.io.record import ECGRecord
    from ecglm_cli.pipeline.prepare import to_model_windows
    from ecglm_cli.signal.quality import quality_flags

    class Spec:
        fs, window, stride = 100.0, 500, 500

    leads = list(STANDARD_LEADS[:2])
    signal = synthetic_ecg(fs=100.0, seconds=60.0)[:2]
    signal[:, :4000] = np.nan  # 40 of 60 s
    record = ECGRecord(signal=signal, fs=100.0, leads=leads, original_leads=leads, source="r",
                       format="t")
    quality = quality_flags(record)
    assert quality["missing_leads"] == list(STANDARD_LEADS[2:])  # I and II are not
    windows, mask, covered = to_model_windows(record, Spec, None, quality)
    assert len(windows) == 4 and mask[:2].all()  # the windows of the 20 s recorded
    assert covered == pytest.approx(1 / 3)
    assert not (windows[:, :2] == 0).all(axis=-1).any()
    signal[0, 4000:5500] = np.nan  # lead I missing for most of what was recorded
    assert "I" in quality_flags(record)["missing_leads"]


def test_a_record_mostly_lost_in_every_lead_with_no_whole_window_is_refused():
    """With missing samples counted only where some lead is recorded, 0.15 s of every 0.25 s
    lost in every lead (60 %) passed, and with no window 80 % recorded every window was scored:
    MI 0.54 with `ok` true. 40 % lost that way is still scored, as before."""
    from ecglm_cli.errors import RecordError
    from ecglm_cli.io.leads import STANDARD_LEADS
    from ecglm_cli.io.record import ECGRecord
    from ecglm_cli.pipeline.prepare import to_model_windows
    from ecglm_cli.signal.quality import quality_flags

    class Spec:
        fs, window, stride = 100.0, 500, 250

    leads = list(STANDARD_LEADS)
    for lost_s, refused in ((0.15, True), (0.10, False)):
        signal = synthetic_ecg(fs=500.0, seconds=10.0)
        for start in range(0, 5000, 125):  # every 0.25 s
            signal[:, start:start + int(lost_s * 500)] = np.nan
        record = ECGRecord(signal=signal, fs=500.0, leads=leads, original_leads=leads,
                           source="r", format="t")
        if refused:
            with pytest.raises(RecordError, match="60% of the samples are missing in every"):
                to_model_windows(record, Spec, None, quality_flags(record))
        else:
            assert len(to_model_windows(record, Spec, None, quality_flags(record))[0]) == 3
