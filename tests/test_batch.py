"""Batch segmentation (napari_mmtseg.batch, ``mmtseg segment --workers/--scheduler``):
one task per image on a dask.distributed LocalCluster of 2 worker processes,
atomic outputs, reruns that skip what is done, a killed worker, a corrupt file."""

import csv
import os
import re
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
import tifffile

from napari_mmtseg.batch import SUMMARY_NAME, segment_many
from napari_mmtseg.cli import main

#: short mmt runs: enough steps that a task is still running when the test kills its worker
MMT = dict(
    method="mmt",
    preset="fast",
    seed=3,
    device="cpu",
    overrides={"max_iter": 30, "q": 8, "tol": 0.0},
)
N = 4  # images per batch


def _write_images(folder, n=N):
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:40, :48]
    for i in range(n):
        rng = np.random.default_rng(i)
        img = 300 + 2500 * ((yy - 12 - i) ** 2 + (xx - 20 - 2 * i) ** 2 < 90) + 1200 * (xx > 36 - i)
        img = (img + rng.normal(0, 60, img.shape)).astype(np.uint16)
        tifffile.imwrite(folder / f"img{i}.tif", img)
    return sorted(folder.glob("*.tif"))


def _rows(folder):
    with open(folder / SUMMARY_NAME) as fh:
        return {os.path.basename(r["input"]): r for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed")
    from distributed import Client

    from napari_mmtseg.batch import local_cluster

    cluster = local_cluster(2)
    c = Client(cluster)
    c.run(__import__, "napari_mmtseg.engine")  # both workers import torch once, up front
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The images and their labels from a serial run in this process."""
    root = tmp_path_factory.mktemp("batch")
    _write_images(root / "in")
    report = segment_many([str(root / "in")], str(root / "serial"), num_threads=1, **MMT)
    assert report.ok and report.count("done") == N
    return root


def test_import_loads_no_distributed():
    code = (
        "import sys; from napari_mmtseg import segment; import napari_mmtseg.cli, "
        "napari_mmtseg.batch; bad = [m for m in sys.modules if m.split('.')[0] in "
        "('distributed', 'PyQt5', 'qtpy', 'napari')]; print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_batch_on_two_workers_gives_the_serial_labels(client, serial):
    out = serial / "dask"
    report = segment_many(
        [str(serial / "in" / "*.tif")], str(out), client=client, num_threads=1, **MMT
    )
    assert report.ok and report.count("done") == N
    rows = _rows(out)
    assert set(rows) == {f"img{i}.tif" for i in range(N)}
    for name, row in rows.items():
        stem = name[:-4]
        np.testing.assert_array_equal(
            tifffile.imread(out / f"{stem}_labels.tif"),
            tifffile.imread(serial / "serial" / f"{stem}_labels.tif"),
        )
        assert (
            row["status"] == "done"
            and int(row["labels"]) >= 1
            and row["worker"].startswith("tcp://")
        )
        assert float(row["seconds"]) > 0 and row["device"].startswith("cpu")


def test_torch_threads_share_each_hosts_cores(client):
    from napari_mmtseg.batch import cores, threads_per_worker

    threads = threads_per_worker(client)
    assert len(threads) == 2 and set(threads.values()) == {max(1, cores() // 2)}


def test_a_corrupt_file_is_reported_and_the_rest_written_then_a_rerun_skips(
    client, serial, tmp_path, capsys
):
    src = tmp_path / "in"
    _write_images(src, n=3)
    (src / "broken.tif").write_bytes(b"II*\x00 this is not a TIFF at all")
    tifffile.imwrite(
        src / "dot.tif", np.zeros((1, 1), np.uint16)
    )  # read fine, refused by the engine
    out = tmp_path / "out"
    args = [
        "segment",
        str(src),
        "-o",
        str(out),
        "--method",
        "kmeans",
        "--set",
        "k=2",
        "--scheduler",
        client.scheduler.address,
    ]
    assert main(args) == 1  # some failed
    rows = _rows(out)
    assert rows["broken.tif"]["status"] == "failed" and "cannot read" in rows["broken.tif"]["error"]
    assert rows["dot.tif"]["status"] == "failed" and "2x2" in rows["dot.tif"]["error"]
    for i in range(3):
        assert rows[f"img{i}.tif"]["status"] == "done"
        assert tifffile.imread(out / f"img{i}_labels.tif").shape == (40, 48)
    err = capsys.readouterr().err
    assert "mmtseg: error:" in err and "broken.tif" in err and "3 done, 0 skipped" in err
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*_labels.tif")}

    assert main(args) == 1  # again: the finished ones are skipped, the bad ones fail again
    rows = _rows(out)
    assert [rows[f"img{i}.tif"]["status"] for i in range(3)] == ["skipped"] * 3
    assert rows["img0.tif"]["labels"] == "2"  # what the skipped output was made with, kept
    assert rows["broken.tif"]["status"] == "failed"
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*_labels.tif")} == mtimes
    assert "0 done, 3 skipped" in capsys.readouterr().err

    os.remove(src / "broken.tif")
    os.remove(src / "dot.tif")
    assert main(args[:-2] + ["--overwrite"]) == 0  # in this process, redoing everything
    assert [r["status"] for r in _rows(out).values()] == ["done"] * 3
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*_labels.tif")} != mtimes


def test_train_on_with_a_scheduler_records_the_local_preset_and_a_rerun_reuses_it(
    client, tmp_path, capsys
):
    """``--train-on`` trains in the command's process, so its preset is this machine's
    default when none is given, also with ``--scheduler``; a rerun takes the same model."""
    from napari_mmtseg import load_model
    from napari_mmtseg.batch.train import MODEL_NAME

    _write_images(tmp_path / "in", n=2)
    out = tmp_path / "out"
    args = ["segment", str(tmp_path / "in"), "-o", str(out), "--train-on", "1",
            "--device", "cpu", "--set", "max_iter=10", "--set", "q=8",
            "--scheduler", client.scheduler.address]  # fmt: skip
    assert main(args) == 0
    assert load_model(out / MODEL_NAME).training["preset"] == "fast"  # the CPU's default
    os.remove(out / "img0_labels.tif")
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "reusing the model" in err and "1 done, 1 skipped" in err
    assert main(args[:4] + ["--model", str(out / MODEL_NAME), "--overwrite"] + args[-2:]) == 0
    assert "preset" not in capsys.readouterr().err  # the model's own parameters apply


def test_a_killed_worker_is_replaced_and_every_output_is_whole(client, serial, monkeypatch):
    import napari_mmtseg.batch.run as batch_run

    monkeypatch.setattr(batch_run, "MIN_IN_FLIGHT", 1)  # at most 2 tasks handed out at once:
    monkeypatch.setattr(
        batch_run, "IN_FLIGHT_PER_SLOT", 1
    )  # the others are submitted as they finish
    out = serial / "killed"
    killed = []
    lock = threading.Lock()

    def kill_a_busy_worker(row):
        with lock:
            if killed:
                return
            busy = [a for a, keys in client.processing().items() if keys]
            if not busy:
                return
            pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    report = segment_many(
        [str(serial / "in")],
        str(out),
        client=client,
        num_threads=1,
        on_row=kill_a_busy_worker,
        **MMT,
    )
    assert killed, "no worker was busy after the first image"
    # a worker killed after its atomic write, before it reported, leaves a whole output that
    # the retried task finds and skips
    assert report.ok and report.count("done") + report.count("skipped") == N
    assert report.count("skipped") <= 1
    for i in range(N):
        np.testing.assert_array_equal(
            tifffile.imread(out / f"img{i}_labels.tif"),
            tifffile.imread(serial / "serial" / f"img{i}_labels.tif"),
        )
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"img{i}_labels.tif" for i in range(N)] + [SUMMARY_NAME]
    )  # no temporary file left


def test_local_workers_from_the_command_line(client, tmp_path, monkeypatch, capsys):
    import napari_mmtseg.batch as batch

    started = []

    def fixture_cluster(n_workers, **kw):  # the module's 2-worker cluster, kept open
        started.append(n_workers)
        monkeypatch.setattr(client.cluster, "close", lambda *a, **k: None)
        return client.cluster

    monkeypatch.setattr(batch, "local_cluster", fixture_cluster)
    src = tmp_path / "in"
    _write_images(src, n=2)
    out = tmp_path / "out"
    assert (
        main(
            [
                "segment",
                str(src / "img*.tif"),
                "-o",
                str(out),
                "--method",
                "kmeans",
                "--set",
                "k=2",
                "--workers",
                "2",
            ]
        )
        == 0
    )
    assert started == [2]
    assert f"{max(1, batch.cores() // 2)} torch thread(s) each" in capsys.readouterr().err
    rows = _rows(out)
    assert len(rows) == 2 and all(r["worker"].startswith("tcp://") for r in rows.values())
    for i in range(2):
        assert tifffile.imread(out / f"img{i}_labels.tif").max() == 2
    monkeypatch.undo()
    assert client.cluster.status.name == "running"


def _screen(text: str) -> list:
    """What a terminal shows after ``text``: carriage returns, newlines and
    cursor-up escapes applied, other escape sequences dropped."""
    lines, row, col = [[]], 0, 0
    for tok in re.findall(r"\x1b\[(\d*)([A-Za-z])|(\r)|(\n)|(.)", text, flags=re.S):
        n, cmd, cr, nl, ch = tok
        if cmd == "A":
            row = max(0, row - int(n or 1))
        elif cmd:
            continue
        elif cr:
            col = 0
        elif nl:
            row, col = row + 1, 0
            while len(lines) <= row:
                lines.append([])
        else:
            line = lines[row]
            if len(line) <= col:
                line.extend(" " * (col - len(line) + 1))
            line[col] = ch
            col += 1
    return ["".join(li).rstrip() for li in lines]


class _Terminal:
    """A stream that says it is a terminal (as tqdm asks) and keeps what is written."""

    def __init__(self):
        self.parts = []

    def write(self, s):
        self.parts.append(s)
        return len(s)

    def flush(self):
        pass

    def isatty(self):
        return True

    @property
    def encoding(self):
        return "utf-8"


def test_the_bar_leaves_no_stale_text_on_a_terminal(tmp_path, monkeypatch):
    src = tmp_path / "in"
    _write_images(src, n=2)
    term = _Terminal()
    monkeypatch.setattr(sys, "stdout", term)
    monkeypatch.setattr(sys, "stderr", term)  # one screen, as in a terminal
    assert (
        main(
            [
                "segment",
                str(src),
                "-o",
                str(tmp_path / "out"),
                "--method",
                "mmt",
                "--preset",
                "fast",
                "--set",
                "max_iter=30",
                "--set",
                "q=8",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    text = "".join(term.parts)
    assert "\r" in text and ("it/s" in text or "s/it" in text)  # there was a live bar
    shown = [ln for ln in _screen(text) if ln]
    for i in range(2):  # each result line whole, with nothing left over from a bar
        done = [ln for ln in shown if f"img{i}_labels.tif (" in ln]
        assert len(done) == 1, shown
        assert re.search(
            rf"img{i}_labels\.tif \(\d+ labels?, [\d.]+ s, cpu \(\d+ threads?\)\)$", done[0]
        ), shown
    assert not any("loss" in ln or "it/s" in ln or "s/it" in ln for ln in shown), shown
    # and the engine's reason for the class count under it
    # (the output stage's sentence, printed as it is, without a label of ours)
    assert sum("kinds of pixel" in ln for ln in shown) == 2, shown


def test_the_bar_estimates_no_time_a_run_that_stops_early_cannot_know(tmp_path, monkeypatch):
    import tqdm.auto

    class _Eager(tqdm.auto.tqdm):  # every update drawn: a warm, fast run is done in 0.2 s
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "mininterval": 0, "miniters": 1})

    monkeypatch.setattr(tqdm.auto, "tqdm", _Eager)
    src = tmp_path / "in"
    _write_images(src, n=1)
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    sets = ["max_iter=60", "q=8", "tol=0", "min_labels=1"]  # no early stop: bars are drawn
    assert main(["segment", str(src), "-o", str(tmp_path / "out"), "--method", "mmt",
                 "--preset", "fast", "--device", "cpu"]
                + [a for kv in sets for a in ("--set", kv)]) == 0  # fmt: skip
    text = "".join(term.parts)
    assert re.search(r"[1-9]\d*it \[", text), text  # iterations done, elapsed and speed
    assert "at most=60" in text  # and the most iterations the run may take
    assert not re.search(r"\d+/60 \[", text), text  # but no fraction done nor time left


def test_fsspec_urls_for_inputs_and_outputs(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    for p in _write_images(tmp_path / "in", n=2):
        fs.pipe(f"/mmtseg-test/in/{p.name}", p.read_bytes())
    try:
        report = segment_many(
            ["memory://mmtseg-test/in/"],
            "memory://mmtseg-test/out",
            method="kmeans",
            overrides={"k": 2},
            device="cpu",
        )
        assert report.ok and report.count("done") == 2
        with fs.open("/mmtseg-test/out/img1_labels.tif", "rb") as fh:
            assert tifffile.imread(fh).shape == (40, 48)
        assert "img0.tif" in fs.cat("/mmtseg-test/out/" + SUMMARY_NAME).decode()
        assert not [p for p in fs.ls("/mmtseg-test/out", detail=False) if p.endswith(".part")]
        again = segment_many(
            ["memory://mmtseg-test/in/*.tif"],
            "memory://mmtseg-test/out",
            method="kmeans",
            overrides={"k": 2},
            device="cpu",
        )
        assert again.count("skipped") == 2
    finally:
        fs.rm("/mmtseg-test", recursive=True)


def test_an_output_never_replaces_an_input(tmp_path, capsys):
    (src,) = _write_images(tmp_path, n=1)
    before = src.read_bytes()
    (tmp_path / "img0_labels.tif").write_bytes(before)  # a user's file named like an output
    for args in (
        [str(src), "-o", str(src)],
        [str(src), str(tmp_path / "img0_labels.tif"), "-o", str(tmp_path)],
    ):
        assert main(["segment", *args, "--method", "kmeans", "--overwrite"]) == 2
        assert "is also an input" in capsys.readouterr().err
    assert src.read_bytes() == before == (tmp_path / "img0_labels.tif").read_bytes()


def test_an_output_named_like_an_image_of_another_format_is_refused(tmp_path):
    """-o out.png for one input made a folder named out.png; labels are TIFF or OME-Zarr."""
    from napari_mmtseg.batch import BatchError, plan

    src = tmp_path / "a.tif"
    tifffile.imwrite(src, np.zeros((8, 8), np.uint8))
    for name in ("out.png", "out.jpg"):
        with pytest.raises(BatchError, match=r"TIFF \(\.tif\) or OME-Zarr"):
            plan([str(src)], str(tmp_path / name))
        assert not (tmp_path / name).exists()
    assert plan([str(src)], str(tmp_path / "out.tif"))[0][1] == str(tmp_path / "out.tif")


def test_a_rerun_of_some_inputs_keeps_the_summary_rows_of_the_others(tmp_path):
    """Redoing one image of a folder (--overwrite on it alone) rewrote the summary with that
    one row: the record of the others was lost."""
    src = tmp_path / "in"
    files = _write_images(src, n=3)
    out = tmp_path / "out"
    args = ["--method", "kmeans", "--set", "k=2"]
    assert main(["segment", str(src), "-o", str(out), *args]) == 0
    first = _rows(out)
    assert main(["segment", str(files[1]), "-o", str(out), "--overwrite", *args]) == 0
    rows = _rows(out)
    assert set(rows) == {"img0.tif", "img1.tif", "img2.tif"}
    assert rows["img0.tif"] == first["img0.tif"] and rows["img2.tif"] == first["img2.tif"]
    assert rows["img1.tif"]["status"] == "done"


def test_one_input_given_alone_is_that_input_not_its_letters(tmp_path):
    """``segment_many("plate/", out)`` said "input not found: p": the string was iterated."""
    from pathlib import Path

    from napari_mmtseg.batch import plan

    folder = tmp_path / "plate"
    folder.mkdir()
    for i in range(2):
        tifffile.imwrite(folder / f"f{i}.tif", np.zeros((8, 8), np.uint8))
    out = tmp_path / "out"
    expected = plan([str(folder)], out)
    assert len(expected) == 2
    assert plan(str(folder), out) == plan(Path(folder), out) == expected
