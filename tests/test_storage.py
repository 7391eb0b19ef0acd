"""napari_mmtseg.storage: local paths and fsspec URLs, atomic writes, the writable check."""

import os

import pytest

from napari_mmtseg import storage


def test_paths_and_urls_are_told_apart_and_joined_each_their_way(tmp_path):
    assert storage.is_url("s3://bucket/a.tif") and not storage.is_url(tmp_path / "a.tif")
    assert storage.join("s3://bucket/plate/", "a.tif") == "s3://bucket/plate/a.tif"
    assert storage.join(tmp_path, "a.tif") == str(tmp_path / "a.tif")
    assert storage.parent("memory://x/y/a.tif") == "memory://x/y"
    assert storage.name("memory://x/y/a.zarr/") == "a.zarr"
    assert storage.name("C:\\data\\b.tif") == "b.tif"


@pytest.mark.parametrize("where", ["local", "url"])
def test_an_atomic_write_leaves_the_old_file_when_the_writer_fails(tmp_path, where):
    pytest.importorskip("fsspec")
    folder = str(tmp_path) if where == "local" else f"memory://{tmp_path.name}"
    storage.makedirs(folder)
    path = storage.join(folder, "a.csv")

    def write(text):
        def to(local):
            with open(local, "w") as fh:
                fh.write(text)
            if text == "bad":
                raise OSError("disk full")

        return to

    storage.atomic_write(path, write("one"))
    assert storage.read_bytes(path) == b"one"
    with pytest.raises(OSError, match="disk full"):
        storage.atomic_write(path, write("bad"))
    assert storage.read_bytes(path) == b"one"  # the old content, whole
    if where == "local":
        assert os.listdir(tmp_path) == ["a.csv"]  # no temporary file left


def test_an_atomic_write_replaces_a_folder_store(tmp_path):
    path = tmp_path / "x.zarr"

    def store(n):
        def to(local):
            os.makedirs(local)
            for i in range(n):
                open(os.path.join(local, str(i)), "w").close()

        return to

    storage.atomic_write(path, store(3))
    storage.atomic_write(path, store(1))
    assert os.listdir(path) == ["0"] and os.listdir(tmp_path) == ["x.zarr"]


def test_a_folder_that_cannot_be_written_is_found_before_any_work(tmp_path):
    storage.check_writable(tmp_path / "new" / "out")  # created
    assert os.listdir(tmp_path / "new" / "out") == []  # and nothing left there
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError):
        storage.check_writable(tmp_path / "file" / "out")


def test_parts_left_by_killed_writers_are_cleaned(tmp_path):
    final = tmp_path / "a_labels.tif"
    part = storage.atomic_path(final)
    part.write_bytes(b"half")
    (tmp_path / "keep.tif").write_bytes(b"x")
    assert storage.clean_parts([str(final), "s3://b/a.tif"]) == [str(part)]
    assert os.listdir(tmp_path) == ["keep.tif"]
