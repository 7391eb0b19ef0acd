"""The trained model as an object: kept, saved, loaded and applied by inference alone."""

import numpy as np
import pytest
import torch

from conftest import make_regions, nuclei_field
from napari_mmtseg import Model, load_model, segment

FAST = dict(preset="fast", max_iter=20, device="cpu", seed=0)


@pytest.fixture(scope="module")
def trained():
    """An MMT model kept from a run on a 4-class grey image, and that image."""
    img, gt = make_regions(seed=0)
    torch.set_num_threads(1)
    r = segment(img, keep_model=True, **FAST)
    assert isinstance(r.model, Model) and r.model.method == "mmt"
    return r.model, img, gt


def _class_ids(labels, gt):
    """The majority id of each ground-truth class."""
    return [int(np.bincount(labels[gt == c].ravel()).argmax()) for c in np.unique(gt)]


def test_save_names_a_missing_folder_or_a_folder_given_as_the_file(trained, tmp_path):
    with pytest.raises(FileNotFoundError, match="No folder"):
        trained[0].save(tmp_path / "absent" / "m.pt")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        trained[0].save(tmp_path)


def test_a_model_whose_weights_do_not_fit_its_metadata_is_named_briefly(trained, tmp_path):
    """A file whose networks' size was edited: a damaged model, in a few lines (torch's
    own text lists every mismatched weight)."""
    from dataclasses import replace

    model = trained[0]
    bad = replace(model, params=replace(model.params, q=model.params.q + 3))
    bad.save(tmp_path / "edited.pt")
    with pytest.raises(ValueError, match="damaged napari-mmtseg model") as info:
        load_model(tmp_path / "edited.pt")
    assert len(str(info.value)) < 400 and str(info.value).count("\n") == 0


def test_save_then_load_gives_identical_labels(trained, tmp_path):
    model, img, _ = trained
    path = model.save(tmp_path / "m.pt")
    loaded = load_model(path)
    assert loaded.metadata() == model.metadata()
    for key, sd in model.weights.items():
        for name, t in sd.items():
            assert torch.equal(loaded.weights[key][name], t), (key, name)
    for output in ("clusters", "regions"):
        a = segment(img, model=model, output=output, device="cpu").labels
        b = segment(img, model=loaded, output=output, device="cpu").labels
        np.testing.assert_array_equal(a, b)
    # the file is plain tensors and JSON-able metadata: torch's safe loader reads it
    blob = torch.load(path, weights_only=True)
    assert blob["format"] == "napari-mmtseg-model" and blob["format_version"] == 1


def test_applying_keeps_class_ids_on_another_image(trained):
    model, img, gt = trained
    other, gt2 = make_regions(seed=3)
    other, gt2 = np.ascontiguousarray(other[::-1, ::-1]), gt2[::-1, ::-1]  # another layout
    a = segment(img, model=model, output="clusters", device="cpu")
    b = segment(other, model=model, output="clusters", device="cpu")
    ids_a, ids_b = _class_ids(a.labels, gt), _class_ids(b.labels, gt2)
    assert len(set(ids_a)) >= 3  # the classes apart (two may share a cluster after 20 steps)
    assert ids_a == ids_b  # a pixel of a class has the same id on both images
    # one model on a stack: every slice labelled as on its own, no renumbering between them
    stack = segment(np.stack([img, other]), model=model, output="clusters", device="cpu")
    np.testing.assert_array_equal(stack.labels[0], a.labels)
    np.testing.assert_array_equal(stack.labels[1], b.labels)
    assert stack.n_labels == len(np.unique(stack.labels))
    assert a.history and not any("loss" in h for h in a.history)  # no training step


def test_a_model_applied_to_another_channel_count_is_refused(trained):
    model, img, _ = trained
    rgb, _ = make_regions(rgb=True)
    with pytest.raises(ValueError, match=r"trained on 1-channel \(grey\) images; the image has 3"):
        segment(rgb, model=model, device="cpu")
    with pytest.raises(ValueError, match="--channel-axis on the command line"):  # both spellings
        segment(rgb, model=model, device="cpu")
    with pytest.raises(ValueError, match="q defines the model's networks"):
        segment(img, model=model, q=8, device="cpu")
    with pytest.raises(ValueError, match="not 'kim2020'"):
        segment(img, method="kim2020", model=model, device="cpu")
    with pytest.raises(ValueError, match="cannot steer"):
        segment(img, model=model, scribbles=np.ones(img.shape, int), device="cpu")
    with pytest.raises(TypeError, match="napari_mmtseg Model"):
        segment(img, model={"state": {}}, device="cpu")
    with pytest.raises(TypeError, match="init_model must be"):
        segment(img, init_model={"state": {}}, **FAST)


def test_a_uint16_image_is_normalised_like_its_uint8_copy(trained):
    model, img, gt = trained
    u8 = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    u16 = u8.astype(np.uint16) * 257  # the same picture, 16-bit: stretched to [0, 1] per image
    a = segment(u8, model=model, output="clusters", device="cpu").labels
    b = segment(u16, model=model, output="clusters", device="cpu").labels
    assert (a == b).mean() > 0.9


@pytest.mark.parametrize("kind", ["text", "foreign", "truncated", "pickled code", "newer"])
def test_a_file_that_is_not_a_model_gives_a_clear_error(trained, tmp_path, kind):
    model, _, _ = trained
    path = tmp_path / "bad.pt"
    if kind == "text":
        path.write_text("hello")
    elif kind == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
    elif kind == "truncated":
        model.save(path)
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "pickled code":
        torch.save(torch.nn.Linear(2, 2), path)  # a module: not loadable with weights_only
    else:
        blob = torch.load(model.save(path), weights_only=True)
        torch.save({**blob, "format_version": 99}, path)
    msg = "newer|update napari-mmtseg" if kind == "newer" else "not a napari-mmtseg model"
    with pytest.raises(ValueError, match=msg.replace("newer|", "")) as err:
        load_model(path)
    assert "weights_only" not in str(err.value)  # torch's advice to load unsafely: not ours
    if kind == "text":  # said plainly, not as torch's unpickler error
        assert "not a file torch.save wrote" in str(err.value)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="is a folder"):
        load_model(tmp_path)


def test_a_damaged_model_file_names_what_is_wrong(trained, tmp_path):
    model, _, _ = trained
    blob = torch.load(model.save(tmp_path / "m.pt"), weights_only=True)
    name = next(iter(blob["weights"]["net"]))
    blob["weights"]["net"][name] = torch.zeros(1)  # a weight of the wrong shape
    torch.save(blob, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="damaged napari-mmtseg model file"):
        load_model(tmp_path / "m.pt")


def test_a_kept_model_warm_starts_training(trained):
    model, img, _ = trained
    r = segment(img, init_model=model, keep_model=True, **{**FAST, "max_iter": 3})
    assert r.model is not model and r.model.step == 3
    before = {k: t.clone() for k, t in model.weights["net"].items()}
    segment(img, init_model=model, **{**FAST, "max_iter": 3})  # the model is never trained in place
    assert all(torch.equal(model.weights["net"][k], t) for k, t in before.items())


def test_a_model_trained_with_scribbles_gives_the_scribble_ids():
    from napari_mmtseg.samples import make_look_alike

    img, scribbles = make_look_alike()
    r = segment(img, scribbles=scribbles, keep_model=True, **{**FAST, "max_iter": 30})
    assert r.model.channel_ids is not None
    applied = segment(img, model=r.model, output="clusters", device="cpu").labels
    for sid in (3, 7, 9):  # each scribbled band keeps its scribble id
        band = r.labels == sid
        assert band.any() and (applied[band] == sid).mean() > 0.8


def test_a_file_with_more_metadata_still_loads(trained, tmp_path):
    model, img, _ = trained
    blob = torch.load(model.save(tmp_path / "m.pt"), weights_only=True)
    blob["metadata"]["note"] = "written by a later version 1 writer"
    torch.save(blob, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    assert loaded.metadata() == model.metadata()
    del blob["metadata"]["method"]
    torch.save(blob, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="damaged"):
        load_model(tmp_path / "m.pt")


def _same_weights(a: Model, b: Model) -> bool:
    return a.weights.keys() == b.weights.keys() and all(
        sd.keys() == b.weights[k].keys()
        and all(torch.equal(t, b.weights[k][n]) for n, t in sd.items())
        for k, sd in a.weights.items()
    )


def test_fit_model_trains_a_stack_without_labelling_it_the_same_model(monkeypatch):
    import napari_mmtseg.engine as engine
    from napari_mmtseg import fit_model

    stack = np.stack([make_regions(seed=s)[0] for s in (0, 1, 2)])
    torch.set_num_threads(1)
    kept = segment(stack, keep_model=True, axes="TYX", **FAST).model
    labelled = []
    original = engine._output_stage
    monkeypatch.setattr(engine, "_output_stage", lambda *a: labelled.append(1) or original(*a))
    fitted = fit_model(stack, axes="TYX", **FAST)
    assert labelled == []  # no slice went through the output stage
    assert fitted.metadata() == kept.metadata() and _same_weights(fitted, kept)
    assert fitted.frozen_bn.keys() == kept.frozen_bn.keys() == {"net", "teacher"}
    for key, stats in fitted.frozen_bn.items():  # the statistics it labels with
        assert all(torch.equal(t, kept.frozen_bn[key][k]) for k, t in stats.items())
    assert fitted.teacher_map == kept.teacher_map


def test_fit_model_on_one_image_is_the_kept_model_and_refuses_classical_methods():
    from napari_mmtseg import fit_model

    img, _ = make_regions(seed=0)
    torch.set_num_threads(1)
    kept = segment(img, keep_model=True, **FAST).model
    assert _same_weights(fit_model(img, **FAST), kept)
    with pytest.raises(ValueError, match="learned method"):
        fit_model(img, method="kmeans", **FAST)


def test_fit_model_refuses_a_model_to_apply():
    from napari_mmtseg import fit_model

    img, _ = make_regions(seed=0)
    model = Model.__new__(Model)  # never read: refused before planning
    with pytest.raises(ValueError, match="init_model"):
        fit_model(img, model=model, **FAST)


def test_training_a_plate_model_refuses_a_classical_method_before_reading_files(tmp_path):
    """The batch's training names the method at fault before it looks for the files."""
    from napari_mmtseg.batch.train import train_model

    with pytest.raises(ValueError, match="learned method.*'kmeans'"):
        train_model([str(tmp_path / "missing.tif")], method="kmeans", device="cpu")


@pytest.mark.parametrize("stacked", [False, True])
def test_a_clusters_run_and_its_kept_model_give_the_same_ids(stacked):
    """The README's workflow: ``segment(image, keep_model=True)`` then the model applied
    (to the same image here) gives each class the run's own id, not another numbering
    (the run numbered its classes 1..K, the model gave channel + 1)."""
    img = make_regions(seed=0)[0]
    image = np.stack([img, make_regions(seed=1)[0]]) if stacked else img
    kw = dict(output="clusters", axes="TYX") if stacked else dict(output="clusters")
    torch.set_num_threads(1)
    run = segment(image, keep_model=True, **kw, **FAST)
    applied = segment(image, model=run.model, output="clusters", device="cpu")
    assert np.array_equal(run.labels, applied.labels)
    assert len(np.unique(run.labels)) > 1


def test_a_kept_model_gives_its_run_the_same_labels_where_a_class_is_marginal():
    """The camera crop's run kept 4 classes, one of them by a 45 px fragment after the
    output stage; its model, applied to the same image, restricted the argmax to those
    classes before the stage, which then saw another map and erased that class (ids
    [1, 3, 4], 50 px differed: a newcomer's trial). The stage now sees every channel, as in
    the run, and only the pixels it leaves outside the classes take the restricted argmax."""
    from skimage import data

    img = data.camera()[::2, ::2][:200, :200]
    torch.set_num_threads(1)
    run = segment(img, keep_model=True, output="clusters", **FAST)
    applied = segment(img, model=run.model, output="clusters", device="cpu")
    np.testing.assert_array_equal(applied.labels, run.labels)


def test_class_ids_past_the_table_stay_apart_and_above_it():
    model = segment(make_regions(seed=0)[0], keep_model=True, output="clusters", **FAST).model
    table = np.asarray(model.channel_ids)
    ids = model.class_ids(np.array([0, table.size, table.size + 1]))
    assert ids[0] == table[0] and ids[1] == table.max() + 1 and ids[2] == table.max() + 2
    assert model.class_ids(3) == table[3] and model.class_ids(np.int64(3)) == table[3]


def test_a_model_prints_in_a_few_lines_not_its_weights():
    model = segment(make_regions(seed=0)[0], keep_model=True, **FAST).model
    text = repr(model)
    assert "method='mmt'" in text and "weights" not in text and len(text) < 5000


def test_a_refined_clusters_model_keeps_the_ids_and_names_a_new_class_by_its_stroke():
    from napari_mmtseg.refine import refine

    img = make_regions(seed=0)[0]
    torch.set_num_threads(1)
    run = segment(img, keep_model=True, output="clusters", **FAST)
    strokes = np.zeros(img.shape[:2], np.int64)
    strokes[5:9, 5:20] = 77  # a new class
    refined = refine(img, run.labels, strokes, run.model, device="cpu").model
    old, new = np.asarray(run.model.channel_ids), np.asarray(refined.channel_ids)
    assert 77 in new and len(set(new.tolist())) == new.size  # one id per channel
    kept = new != 77
    assert (new[kept][old[kept] != 77] == old[kept][old[kept] != 77]).all()
    # it keeps the run's classes, and the new one's channel, for its applied argmax
    channel = int(np.flatnonzero(new == 77)[0])
    assert refined.class_channels is not None and channel in refined.class_channels
    assert set(run.model.class_channels) <= set(refined.class_channels)


def test_keeping_the_model_of_a_classical_method_says_there_is_none():
    with pytest.warns(UserWarning, match="kmeans trains no networks"):
        result = segment(make_regions(seed=0)[0], method="kmeans", keep_model=True)
    assert result.model is None


def test_an_applied_clusters_model_gives_only_the_classes_of_its_training_result():
    """A channel the training result never used (absorbed, or unused) would be a class of
    its own with a new id on another image or frame: the applied model labels each pixel
    with the most likely of its classes instead, on one image and on a stack."""
    img = make_regions(seed=0)[0]
    torch.set_num_threads(1)
    run = segment(img, keep_model=True, output="clusters", **FAST)
    trained = set(np.unique(run.labels).tolist())
    inverted = (255 - make_regions(seed=2)[0]).astype(np.float32)
    one = segment(inverted, model=run.model, output="clusters", device="cpu")
    assert set(np.unique(one.labels).tolist()) <= trained
    halved = (make_regions(seed=3)[0] // 2).astype(np.float32)
    stack = np.stack([halved, img])
    applied = segment(stack, model=run.model, output="clusters", axes="TYX", device="cpu")
    assert set(np.unique(applied.labels).tolist()) <= trained


@pytest.mark.parametrize("chans", [[], [40], [-1], [1.5], [True]])
def test_channels_outside_the_networks_are_a_damaged_model(tmp_path, chans):
    from dataclasses import replace

    img = np.zeros((24, 32), np.uint8)
    img[:, 16:] = 200
    m = segment(
        img, keep_model=True, output="clusters", preset="fast", max_iter=3, device="cpu"
    ).model
    with pytest.raises(ValueError, match="class_channels must list the networks' channels"):
        replace(m, class_channels=chans)
    path = tmp_path / "m.pt"
    m.save(path)
    blob = torch.load(path, weights_only=True)
    blob["metadata"]["class_channels"] = chans
    torch.save(blob, path)
    with pytest.raises(ValueError, match="damaged napari-mmtseg model file: class_channels"):
        load_model(path)


def test_a_preset_given_with_a_model_is_said_to_be_unused(trained):
    """The CLI refuses --preset with --model; segment(model=m, preset=...) took it silently."""
    model, img, _ = trained
    with pytest.warns(UserWarning, match="preset='paper' is not used"):
        segment(img, model=model, preset="paper", device="cpu")


def test_a_model_labels_a_field_of_many_more_nuclei_with_its_training_statistics():
    """A model kept from a field of 2 nuclei, applied to a field of 40 (47% nuclei), gave
    every pixel the background's id: BatchNorm took the applied field's own statistics, so
    the classes moved with the content. It labels with its training statistics now, and
    still gives its own field its labels back."""
    sparse, dense = nuclei_field(1, 2), nuclei_field(2, 40)
    first = segment(sparse, keep_model=True, output="clusters", preset="fast", device="cpu")
    nucleus = int(first.labels[sparse > 450].mean().round())
    res = segment(dense, model=first.model, device="cpu", output="clusters")
    assert (res.labels[dense > 450] == nucleus).mean() >= 0.9
    assert (res.labels[dense <= 450] != nucleus).mean() >= 0.9
    again = segment(sparse, model=first.model, device="cpu", output="clusters")
    np.testing.assert_array_equal(again.labels, first.labels)


def test_a_model_file_without_statistics_labels_each_image_with_its_own(trained, tmp_path):
    """A file saved before the statistics were kept still loads and applies (each image's
    own BatchNorm statistics, as then); the statistics round-trip in a file that has them."""
    model, img, _ = trained
    path = model.save(tmp_path / "m.pt")
    loaded = load_model(path)
    assert (
        loaded.teacher_map == model.teacher_map
        and loaded.frozen_bn.keys() == model.frozen_bn.keys()
    )
    blob = torch.load(path, weights_only=True)
    del blob["frozen_bn"]
    del blob["metadata"]["teacher_map"]
    torch.save(blob, path)
    old = load_model(path)
    assert old.frozen_bn is None and old.teacher_map is None
    labels = segment(img, model=old, device="cpu").labels
    np.testing.assert_array_equal(labels, segment(img, model=model, device="cpu").labels)


def test_saving_one_model_twice_gives_the_same_bytes(trained, tmp_path):
    """The file's sha256 names the model in a batch's record: saved again, the same model
    must give the same file (torch names the archive inside after the file it writes,
    and the save writes a temporary file of a random name first)."""
    model = trained[0]
    first = model.save(tmp_path / "a.pt").read_bytes()
    second = model.save(tmp_path / "b.pt").read_bytes()
    again = model.save(tmp_path / "a.pt").read_bytes()  # over the first, to the same name
    assert first == second == again
    blob = torch.load(tmp_path / "b.pt", map_location="cpu", weights_only=True)
    assert blob["metadata"] == model.metadata()
    assert _same_weights(load_model(tmp_path / "b.pt"), model)


def test_fit_model_on_images_of_different_shapes_names_the_image_at_fault():
    """A list of images of two shapes gave numpy's "inhomogeneous shape" TypeError; like
    ``mmtseg train``, fit_model now says that one model trains on one shape, and which."""
    from napari_mmtseg import fit_model

    images = [np.zeros((32, 32), np.uint8), np.zeros((32, 32), np.uint8), np.ones((24, 32))]
    with pytest.raises(ValueError, match=r"one model is trained on images of one shape: "
                       r"image 2 is \(24, 32\), image 0 is \(32, 32\)"):  # fmt: skip
        fit_model(images, **FAST)


def test_what_an_applied_model_says_it_gave_is_what_it_gave():
    """The stage counted a channel outside the model's classes, then the model's classes
    took its pixels: "2 classes" was said of labels holding one id."""
    import dataclasses

    sparse, dense = nuclei_field(1, 2), nuclei_field(2, 40)
    first = segment(sparse, keep_model=True, output="clusters", preset="fast", device="cpu")
    old = dataclasses.replace(first.model, frozen_bn=None, teacher_map=None)  # each image's own
    res = segment(dense, model=old, device="cpu", output="clusters")
    n = int(np.unique(res.labels).size)
    assert res.output["n_classes"] == n
    assert res.output["why"].startswith(f"{n} class")


def test_training_parameters_given_with_a_model_are_said_unused_and_not_recorded(trained):
    """segment(img, model=m, max_iter=5, lr=0.5) labelled with the model's training and
    recorded max_iter 5 and lr 0.5 as if used; a labelling field still applies."""
    model, img, _ = trained
    with pytest.warns(UserWarning, match="lr, max_iter not used"):
        r = segment(img, model=model, max_iter=5, lr=0.5, min_region_size=40, device="cpu")
    assert r.params["max_iter"] == model.params.max_iter and r.params["lr"] == model.params.lr
    assert r.params["min_region_size"] == 40
    np.testing.assert_array_equal(
        r.labels, segment(img, model=model, min_region_size=40, device="cpu").labels
    )


@pytest.mark.parametrize("final_net", ["teacher", "student"])
def test_the_labelling_network_can_still_be_chosen_when_a_model_is_applied(final_net):
    """With the statistics kept, final_net given with a model was ignored (the teachers
    voted); on its own image the kept statistics are the image's, so the labels are those
    each image's own statistics give."""
    import dataclasses

    from skimage.data import camera

    img = camera()[::4, ::4]  # 128 x 128: the teachers' vote and each network differ here
    model = segment(img, keep_model=True, **FAST).model
    own = dataclasses.replace(model, frozen_bn=None, teacher_map=None)
    got = segment(img, model=model, final_net=final_net, device="cpu").labels
    want = segment(img, model=own, final_net=final_net, device="cpu").labels
    np.testing.assert_array_equal(got, want)


def test_a_field_with_no_nucleus_stays_background_with_the_models_intensity_range():
    """Normalised with its own range, a field of background alone was stretched until its
    noise spanned [0, 1], and a model kept from a stack of a nuclei field and an empty one
    labelled that empty field all nucleus (applied alone; in the stack it was background).
    The model keeps its training data's intensity range and applies it to images of its
    dtype: the empty field is background, and each slice alone gets the stack's labels."""
    nuclei, empty = nuclei_field(1, 8), nuclei_field(2, 0)
    run = segment(np.stack([nuclei, empty]), axes="TYX", keep_model=True, output="clusters", **FAST)
    lo, hi = run.model.intensity_range
    assert len(lo) == len(hi) == 1 and lo[0] < 200 < 700 < hi[0]
    background = int(np.bincount(run.labels[0][nuclei < 300]).argmax())
    alone = segment(empty, model=run.model, output="clusters", device="cpu").labels
    assert (alone == background).mean() >= 0.99
    for i, field in enumerate((nuclei, empty)):
        again = segment(field, model=run.model, output="clusters", device="cpu").labels
        np.testing.assert_array_equal(again, run.labels[i])


def test_the_intensity_range_applies_to_the_models_dtype_only_and_round_trips(tmp_path):
    """Another dtype is normalised per image, as documented; an image of the model's dtype
    whose intensities lie mostly outside its range says so; the range is saved and checked."""
    from dataclasses import replace

    from napari_mmtseg.image import prepare_image

    field = nuclei_field(1, 8)
    model = segment(field, keep_model=True, **FAST).model
    same, other = prepare_image(field), prepare_image((field // 8).astype(np.uint8))
    assert model.normalise(same) and same.range_given
    assert not model.normalise(other) and not other.range_given
    with pytest.warns(UserWarning, match="mostly outside"):
        model.normalise(prepare_image(field * 20))
    loaded = load_model(model.save(tmp_path / "m.pt"))
    assert loaded.intensity_range == model.intensity_range
    for bad in ([[0.0], [np.nan]], [[5.0], [1.0]], [[0.0, 1.0], [2.0, 3.0]], "x"):
        with pytest.raises(ValueError, match="intensity_range must be"):
            replace(model, intensity_range=bad)


def test_a_model_is_saved_over_a_model_only(trained, tmp_path):
    """``Model.save("f0.tif")`` replaced an image with the model; only a model file is
    replaced now, and the image stays as it was."""
    import tifffile

    image = tmp_path / "f0.tif"
    tifffile.imwrite(image, np.arange(64, dtype=np.uint16).reshape(8, 8))
    before = image.read_bytes()
    with pytest.raises(FileExistsError, match="not a napari-mmtseg model file"):
        trained[0].save(image)
    assert image.read_bytes() == before
    path = trained[0].save(tmp_path / "m.pt")
    assert trained[0].save(path) == path  # a model file is replaced


def test_a_result_labelled_by_a_model_records_the_model_not_a_seed_of_its_own(trained):
    """Applied, a result's metadata said seed 0 and preset 'fast' (the call's defaults, used
    by nothing) and nothing of the model."""
    model, img, _ = trained
    meta = segment(img, model=model, device="cpu").metadata()
    assert meta["seed"] is None and meta["preset"] is None
    assert meta["output"]["model"] == {
        "method": "mmt",
        "step": model.step,
        "version": model.version,
        "dtype": model.dtype,
        "training": None,
        "normalised_with": "the model's intensity range",
    }
    other = segment((img * 200).astype(np.uint8), model=model, device="cpu").metadata()
    assert other["output"]["model"]["normalised_with"] == "the image's own range"
    own = segment(img, **FAST).metadata()
    assert own["seed"] == 0 and own["preset"] == "fast" and "model" not in own["output"]


def test_init_model_of_another_channel_count_is_named_before_normalising():
    """With the model's dtype, the channel check came after its intensity range met the
    image: a raw numpy broadcast error instead of the init_model message."""
    rng = np.random.default_rng(0)
    two = rng.integers(0, 1000, (2, 24, 24)).astype(np.uint16)
    model = segment(two, channel_axis=0, keep_model=True, **{**FAST, "max_iter": 2}).model
    three = rng.integers(0, 1000, (3, 24, 24)).astype(np.uint16)
    with pytest.raises(ValueError, match="init_model does not fit this run"):
        segment(three, channel_axis=0, init_model=model, device="cpu", max_iter=2)


def test_byte_order_does_not_make_another_dtype_and_provenance_counts_files():
    from napari_mmtseg.image import prepare_image

    field = nuclei_field(1, 4)
    model = segment(field, keep_model=True, **{**FAST, "max_iter": 2}).model
    assert model.normalise(prepare_image(field.astype(">u2")))
    model.training = {"seed": 1, "preset": "fast", "files": ["a.tif", "b.tif"], "skipped": []}
    assert model.provenance(True)["training"] == {"seed": 1, "preset": "fast", "n_files": 2}


def test_a_model_kept_with_n_classes_gives_those_classes_on_every_image():
    """A clusters run with ``n_classes=2`` kept a model that labelled with every network
    channel a class of its own (n_classes 'auto', with a warning): 4 ids on its own image
    where the run gave 2. It now groups its channels as the run did: the run's labels on
    its own image, the same 2 ids (nuclei, background) on another."""
    import warnings

    first, other = nuclei_field(3, 6), nuclei_field(4, 20)
    run = segment(first, keep_model=True, output="clusters", n_classes=2, preset="fast",
                  device="cpu")  # fmt: skip
    assert np.unique(run.labels).size == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about
        again = segment(first, model=run.model, device="cpu")
        applied = segment(other, model=run.model, device="cpu")
    np.testing.assert_array_equal(again.labels, run.labels)
    nucleus = int(np.bincount(run.labels[first > 450]).argmax())
    background = int(np.bincount(run.labels[first < 450]).argmax())
    assert nucleus != background
    assert np.mean(applied.labels[other > 450] == nucleus) > 0.95
    assert np.mean(applied.labels[other < 450] == background) > 0.95
    import dataclasses

    older = dataclasses.replace(run.model, channel_ids=None, class_channels=None)
    with pytest.warns(UserWarning, match="trained with n_classes=2"):  # a file of before
        segment(other, model=older, device="cpu")


def test_a_grouped_model_says_how_many_classes_it_gave():
    """Applied with clusters output, a model kept with ``n_classes=2`` gave 2 ids and said
    "6 classes" (the output stage counted the network's channels before they were grouped):
    in the result's ``output``, the CLI's line and the label file's record."""

    def field(rng, n, size=96):
        img = rng.normal(200, 20, (size, size))
        yy, xx = np.mgrid[:size, :size]
        for _ in range(n):
            (cy, cx), rad = rng.integers(8, size - 8, 2), rng.uniform(5, 9)
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < rad**2] += rng.uniform(1500, 2500)
        return np.clip(img, 0, 65535).astype(np.uint16)

    rng = np.random.default_rng(1)
    stack = np.stack([field(rng, n) for n in [4, 5, 6, 5]])
    many = field(rng, 40)
    run = segment(stack, keep_model=True, output="clusters", n_classes=2, preset="fast",
                  device="cpu")  # fmt: skip
    res = segment(many, model=run.model, device="cpu")
    assert np.unique(res.labels).size == 2
    assert res.output["n_classes"] == 2 and res.output["why"].startswith("2 classes")


def test_a_model_applied_to_another_dtype_says_it_normalises_on_the_images_own_range():
    """A uint16 model applied to an empty field given as float32 labelled it all nucleus
    (its noise stretched over the whole scale) and said nothing."""
    field, empty = nuclei_field(1, 8), nuclei_field(2, 0)
    model = segment(field, keep_model=True, output="clusters", preset="fast", device="cpu").model
    with pytest.warns(UserWarning, match="float32, the model's training data uint16"):
        segment(empty.astype(np.float32), model=model, device="cpu")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        segment(empty, model=model, device="cpu")  # its own dtype: the model's range, silent
