"""PTB-XL reading: label spaces from scp_statements.csv, labels per record, missing files."""

from __future__ import annotations

import csv
import os
import shutil

import pytest

from ecglm_cli.data.ptbxl import PTBXL, DatasetError, load_label_spaces


def test_label_space_sizes_match_the_benchmark(shared_data):
    spaces = load_label_spaces(shared_data / "ptbxl" / "scp_statements.csv")
    sizes = {name: len(space.labels) for name, space in spaces.items()}
    assert sizes == {"all": 71, "diagnostic": 44, "subdiagnostic": 23, "superdiagnostic": 5,
                     "form": 19, "rhythm": 12}
    assert spaces["superdiagnostic"].labels == ["CD", "HYP", "MI", "NORM", "STTC"]
    assert spaces["superdiagnostic"].descriptions["NORM"] == "normal ECG"


def test_diagnostic_classes_have_readable_names(shared_data):
    spaces = load_label_spaces(shared_data / "ptbxl" / "scp_statements.csv")
    assert spaces["superdiagnostic"].descriptions == {
        "CD": "conduction disturbance", "HYP": "hypertrophy", "MI": "myocardial infarction",
        "NORM": "normal ECG", "STTC": "ST/T change"}
    sub = spaces["subdiagnostic"].descriptions
    assert sub["_AVB"] == "AV block"
    assert not [code for code, text in sub.items() if text.startswith("any of")]


def test_shipped_bundle_describes_labels_as_the_dataset_does(shared_data):
    from ecglm_cli.models.bundle import load_bundle

    spaces = load_label_spaces(shared_data / "ptbxl" / "scp_statements.csv")
    bundle = load_bundle("ecglm-base")
    for name, info in bundle.label_spaces.items():
        assert info["descriptions"] == spaces[name].descriptions, name


def test_record_labels_count_codes_of_any_likelihood(shared_data):
    ds = PTBXL(shared_data / "ptbxl")
    first = next(e for e in ds.entries if e.ecg_id == 1)
    assert first.codes == {"NORM": 100.0, "LVOLT": 0.0, "SR": 0.0}
    labels = ds.labels(first)
    spaces = ds.label_spaces

    def on(space):
        return {lab for lab, v in zip(spaces[space].labels, labels[space], strict=True) if v}

    assert on("all") == {"NORM", "LVOLT", "SR"}
    assert on("form") == {"LVOLT"}  # likelihood 0, still counted (as in the benchmark)
    assert on("rhythm") == {"SR"}
    assert on("superdiagnostic") == {"NORM"}


def test_subset_with_missing_files_reports_what_was_skipped(shared_data, tmp_path):
    src = shared_data / "ptbxl"
    for name in ("ptbxl_database.csv", "scp_statements.csv"):
        shutil.copy(src / name, tmp_path / name)
    ds_full = PTBXL(src)
    kept = ds_full.select((9,), limit=3)
    for entry in kept:
        target = tmp_path / (entry.filename_lr + ".hea")
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in (".hea", ".dat"):
            os.symlink(src / (entry.filename_lr + suffix), target.with_suffix(suffix))
    ds = PTBXL(tmp_path)
    chosen = ds.select((9,))
    assert [e.ecg_id for e in chosen] == [e.ecg_id for e in kept]
    assert len(ds.skipped) == sum(e.fold == 9 for e in ds.entries) - 3
    assert all(reason.startswith("missing") for reason in ds.skipped.values())


def test_folder_without_tables_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="scp_statements.csv"):
        PTBXL(tmp_path)


def test_unreadable_record_is_skipped_with_its_reason(shared_data, tmp_path):
    from ecglm_cli.models.encoder import EncoderConfig
    from ecglm_cli.pipeline.evaluate import load_split

    src = shared_data / "ptbxl"
    for name in ("ptbxl_database.csv", "scp_statements.csv"):
        shutil.copy(src / name, tmp_path / name)
    good, broken = PTBXL(src).select((9,), limit=2)
    for entry, suffixes in ((good, (".hea", ".dat")), (broken, (".hea",))):
        target = tmp_path / (entry.filename_lr + ".hea")
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in suffixes:
            os.symlink(src / (entry.filename_lr + suffix), target.with_suffix(suffix))
    ds = PTBXL(tmp_path)
    split = load_split(ds, [good, broken], EncoderConfig())
    assert len(split.arrays) == 1 and split.arrays[0].shape == (12, 1000)
    assert list(ds.skipped) == [broken.ecg_id]
    assert ".dat" in ds.skipped[broken.ecg_id]


@pytest.mark.parametrize("name", ["../../../etc/passwd", "/etc/passwd", "records100\\..\\x"])
def test_database_file_names_may_not_leave_the_folder(tmp_path, name):
    from knowledge_fixtures import row, write_ptbxl

    from ecglm_cli.data.ptbxl import read_database

    table = write_ptbxl(tmp_path, [row(1, {"NORM": 100.0}), row(2, {"NORM": 100.0})],
                        with_signal=set()) / "ptbxl_database.csv"
    table.write_text(table.read_text().replace("records100/00000/00002_lr", name))
    with pytest.raises(DatasetError, match=r"ecg_id 2: filename_lr .* refused"):
        read_database(table)


def _table_with(tmp_path, edit):
    from knowledge_fixtures import row, write_ptbxl

    folder = write_ptbxl(tmp_path, [row(1, {"NORM": 100.0}), row(2, {"IMI": 50.0})],
                         with_signal=set())
    (folder / "scp_statements.csv").write_text(
        ",description,diagnostic,form,rhythm,diagnostic_class,diagnostic_subclass\n"
        "NORM,normal ECG,1.0,,,NORM,NORM\nIMI,inferior myocardial infarction,1.0,,,MI,IMI\n")
    edit(folder)
    return folder


def _drop_column(name):
    def edit(folder):
        table = folder / "ptbxl_database.csv"
        lines = list(csv.DictReader(table.open()))
        with table.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, [k for k in lines[0] if k != name])
            writer.writeheader()
            writer.writerows({k: v for k, v in r.items() if k != name} for r in lines)
    return edit


def _replace(file, old, new):
    def edit(folder):
        path = folder / file
        path.write_bytes(path.read_bytes().replace(old, new, 1))
    return edit


@pytest.mark.parametrize(("edit", "reason"), [
    (_drop_column("scp_codes"), "no scp_codes column"),
    (_drop_column("strat_fold"), "no strat_fold column"),
    (_replace("ptbxl_database.csv", b"{'NORM': 100.0}", b"{'NORM': [1]}"),
     "scp_codes likelihoods are not numbers"),
    (_replace("ptbxl_database.csv", b"\n2,", b"\n1,"), "ecg_id 1 is listed twice"),
    (_replace("ptbxl_database.csv", b"\n2,", b"\n1e999,"), "malformed PTB-XL table"),
    (_replace("scp_statements.csv", b"NORM", b"N\xffRM"), "not a PTB-XL scp_statements.csv"),
    (_replace("ptbxl_database.csv", b"{'NORM': 100.0}", b""), "ecg_id 1 has no scp_codes"),
    (_replace("ptbxl_database.csv", b"{'NORM': 100.0}", b"{}"),
     "ecg_id 1 has no SCP statement"),
    (_replace("ptbxl_database.csv", b",1,", b",,"), "ecg_id 1 has no strat_fold"),
    (_replace("ptbxl_database.csv", b",1,", b",1.7,"),
     "ecg_id 1: strat_fold '1.7' is not a whole number"),  # was read as fold 1
    (_replace("ptbxl_database.csv", b",1,", b",x,"),
     "ecg_id 1: strat_fold 'x' is not a whole number"),  # the row was not named
], ids=["no scp_codes", "no strat_fold", "list likelihood", "duplicate ecg_id",
             "infinite ecg_id", "non-UTF-8 statements", "empty scp_codes cell",
             "no statement", "empty fold cell", "fractional fold", "fold not a number"])
def test_malformed_tables_are_one_line_errors_naming_the_file(tmp_path, edit, reason):
    """Without scp_codes every record trained as having no statement (exit 0), and so did a
    record whose cell was empty, in fold 0 when its fold was empty too; the others
    raised OverflowError, TypeError or UnicodeDecodeError, and a duplicate ecg_id silently
    dropped a record."""
    from ecglm_cli.data.ptbxl import PTBXL

    folder = _table_with(tmp_path, edit)
    with pytest.raises(DatasetError, match=reason) as error:
        PTBXL(folder).select([1])
    assert str(error.value).startswith(str(folder))


def test_nan_in_a_label_column_is_an_empty_cell(tmp_path):
    """A table saved through pandas writes "nan" into empty cells: read as notes, every record
    got all four kinds of noise, a pacemaker and an unknown infarction stage."""
    from knowledge_fixtures import row, write_ptbxl

    from ecglm_cli.data.ptbxl_table import LABEL_COLUMNS, read_label_rows
    from ecglm_cli.knowledge.labels import record_labels

    folder = write_ptbxl(tmp_path, [row(1, {"NORM": 100.0, "SR": 0.0},
                                        **dict.fromkeys(LABEL_COLUMNS, "nan"))],
                         with_signal=set())
    parsed = read_label_rows(folder)[1]
    assert all(parsed[column] == "" for column in LABEL_COLUMNS)
    labels = record_labels(parsed)
    assert not labels.pacemaker and not labels.noise_present and not labels.stages


def test_a_fold_the_table_does_not_have_is_named(tmp_path):
    """`evaluate --fold 11` said "no readable records in fold(s) 11"."""
    from ecglm_cli.data.ptbxl import PTBXL

    folder = _table_with(tmp_path, lambda folder: None)
    with pytest.raises(DatasetError) as error:
        PTBXL(folder).select([9, 11])
    dataset = PTBXL(folder)
    assert dataset.select([1, 9]) == []  # a subset may lack some folds (and here, the files)
    assert sorted(dataset.skipped) == [1, 2]
    assert str(error.value) == (f"{folder / 'ptbxl_database.csv'}: no fold 9, 11 in the table "
                                "(it has folds 1)")


def test_evaluate_reads_the_leads_classify_reads(tmp_path):
    """`classify` leaves a flat lead out; `evaluate` and training fed it to the model as read,
    so the figures described another input than users get."""
    import numpy as np
    import wfdb

    from ecglm_cli.data.ptbxl import PTBXL
    from ecglm_cli.io.leads import STANDARD_LEADS
    from ecglm_cli.models.encoder import EncoderConfig
    from ecglm_cli.pipeline.evaluate import load_split

    folder = _table_with(tmp_path, lambda folder: None)
    t = np.arange(500) / 100.0
    signal = np.stack([np.sin(2 * np.pi * 1.2 * t) * (0.5 + 0.05 * k) for k in range(12)], 1)
    signal[:, STANDARD_LEADS.index("V3")] = 0.0
    (folder / "records100" / "00000").mkdir(parents=True)
    wfdb.wrsamp("00001_lr", fs=100, units=["mV"] * 12, sig_name=list(STANDARD_LEADS),
                p_signal=signal, fmt=["16"] * 12, write_dir=str(folder / "records100" / "00000"))
    dataset = PTBXL(folder)
    split = load_split(dataset, dataset.select([1]), EncoderConfig(window_s=2.5, stride_s=2.5))
    assert [lead for lead, kept in zip(STANDARD_LEADS, split.masks[0], strict=True)
            if not kept] == ["V3"]


def test_tables_saved_by_excel_with_a_byte_order_mark_are_read(shared_data, tmp_path):
    """Excel saves UTF-8 CSV with a BOM, which stuck to the first column's name: a table edited
    there was "not a PTB-XL database table (no ecg_id column)"."""
    source = shared_data / "ptbxl"
    for name in ("ptbxl_database.csv", "scp_statements.csv"):
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + (source / name).read_bytes())
    os.symlink(source / "records100", tmp_path / "records100")
    with_bom, plain = PTBXL(tmp_path), PTBXL(source)
    assert with_bom.label_spaces == plain.label_spaces
    assert [e.ecg_id for e in with_bom.select((9,), 5)] == [e.ecg_id for e in plain.select((9,), 5)]
