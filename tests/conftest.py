import numpy as np
import pytest


def make_regions(shape=(48, 64), noise=0.06, seed=0, rgb=False, n_regions=4):
    """A small noisy synthetic image with 3 or 4 regions and its ground truth."""
    rng = np.random.default_rng(seed)
    h, w = shape
    gt = np.zeros(shape, np.int64)
    gt[: h // 2, w // 2 :] = 1
    gt[h // 2 :, : w // 3] = 2
    yy, xx = np.mgrid[:h, :w]
    if n_regions == 4:
        gt[(yy - 0.7 * h) ** 2 + (xx - 0.65 * w) ** 2 < (0.18 * min(h, w)) ** 2] = 3
    if rgb:
        colours = np.array([[0.9, 0.2, 0.2], [0.2, 0.8, 0.3], [0.2, 0.3, 0.9], [0.9, 0.9, 0.2]])
        img = colours[gt] + rng.normal(0, noise, shape + (3,))
        return (np.clip(img, 0, 1) * 255).astype(np.uint8), gt
    levels = np.array([0.1, 0.4, 0.65, 0.9])
    img = levels[gt] + rng.normal(0, noise, shape)
    return img.astype(np.float32), gt


def nuclei_field(seed, n, shape=(128, 128)):
    """A fluorescence-like field: ``n`` nuclei (discs of radius 10, 800) on 100, noise 20,
    uint16."""
    from skimage.draw import disk

    rng = np.random.default_rng(seed)
    img = np.full(shape, 100.0)
    for _ in range(n):
        rr, cc = disk(tuple(rng.integers(12, shape[0] - 12, 2)), 10, shape=shape)
        img[rr, cc] = 800
    return np.clip(img + rng.normal(0, 20, shape), 0, None).astype(np.uint16)


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test (fast and repeatable on a 2-core machine)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def regions():
    return make_regions()


@pytest.fixture
def viewer_widget(make_napari_viewer):
    """A napari viewer with the dock widget docked in it (tests/napari; run under
    ``xvfb-run -a``). Here rather than in a tests/napari/conftest.py, whose module
    name would shadow this one's for ``from conftest import make_regions``."""
    pytest.importorskip("napari")
    pytest.importorskip("pytestqt")
    from napari_mmtseg._napari._widget import MMTSegWidget

    viewer = make_napari_viewer()
    widget = MMTSegWidget(viewer)
    viewer.window.add_dock_widget(widget, name="MMT segmentation")
    return viewer, widget


def sixteen_discs(seed=1):
    """A (96, 96) float32 image of 16 bright discs (radius 6, 0.9) on 0.1, noise 0.05, and
    the discs' centres."""
    rng = np.random.default_rng(seed)
    img = np.full((96, 96), 0.1)
    yy, xx = np.mgrid[:96, :96]
    centres = [(12 + 24 * i, 12 + 24 * j) for i in range(4) for j in range(4)]
    for y, x in centres:
        img[(yy - y) ** 2 + (xx - x) ** 2 <= 36] = 0.9
    return (img + 0.05 * rng.standard_normal(img.shape)).astype(np.float32), centres
