"""Small synthetic images and cluster maps shared by the output stage's tests."""

import numpy as np
from scipy import ndimage as ndi


def grey(img):
    """(H, W) image -> (1, H, W) float32 slice."""
    return np.asarray(img, np.float32)[None]


def membrane_grid(seed, contrast=0.2, texture=0.03, size=160, cell=40):
    """A 4 x 4 grid of textured cells (0.7 +- ``texture``) separated by 3 px membranes
    ``contrast`` darker, as on an EM section; the cluster map has the membrane as one cluster
    and each cell cut into two speckle clusters."""
    rng = np.random.default_rng(seed)
    noise = ndi.gaussian_filter(rng.standard_normal((size, size)), 1.5)
    img = 0.7 + texture * noise / noise.std()
    mem = np.zeros((size, size), bool)
    for k in range(0, size, cell):
        mem[k : k + 3, :] = True
        mem[:, k : k + 3] = True
    img[mem] = 0.7 - contrast
    clusters = np.where(mem, 0, 1 + (img > 0.7))
    return np.clip(img, 0, 1)[None].astype(np.float32), clusters, mem


def textured_halves(seed, step=0.12, amplitude=0.12, n=96, margin=8):
    """Two halves of a textured field (cell interiors, chromatin) whose means differ by
    ``step``, smooth within ``margin`` px of the edge between them; the cluster map is the two
    halves."""
    noise = ndi.gaussian_filter(np.random.default_rng(seed).standard_normal((n, n)), 1.0)
    col = np.arange(n)[None, :]
    left = np.broadcast_to(col < n // 2, (n, n))
    inside = np.broadcast_to(np.abs(col - n // 2 + 0.5) > margin, (n, n))
    img = np.where(left, 0.4, 0.4 + step) + np.where(inside, amplitude * noise / noise.std(), 0)
    return np.clip(img, 0, 1)[None].astype(np.float32), np.where(left, 0, 1)


def membrane_grid_with_a_dark_cell():
    """3 x 3 bright cells (cluster 0) in a network of dark 3 px membranes (cluster 1); the
    centre cell is grey, and the network put most of it in the membranes' cluster 1, with a
    rim of its own cluster 2 (an EM cell whose interior is as dark as its membrane)."""
    img = np.full((72, 72), 0.1)
    clusters = np.ones((72, 72), int)
    for i in range(3):
        for j in range(3):
            cell = np.s_[3 + 23 * i : 23 + 23 * i, 3 + 23 * j : 23 + 23 * j]
            img[cell], clusters[cell] = 0.8, 0
    img[26:46, 26:46], clusters[26:46, 26:46], clusters[28:44, 28:44] = 0.4, 2, 1
    return img[None], clusters


def background_and_nuclei():
    """Background (cluster 0, unscribbled), a dim nucleus A and a bright nucleus B (cluster 2,
    scribbled in B only) and a background scribble's own small cluster 1."""
    img = np.full((60, 60), 0.2, np.float32)
    clusters = np.zeros((60, 60), int)
    img[30:40, 30:40], clusters[30:40, 30:40] = 0.25, 2  # A: a weak boundary to the background
    img[45:55, 45:55], clusters[45:55, 45:55] = 0.8, 2  # B
    img[5:11, 5:11], clusters[5:11, 5:11] = 0.5, 1  # the background scribble's cluster
    marks = np.full((60, 60), -1)  # the cluster of the class scribbled at each pixel
    marks[48:52, 48:52], marks[7:9, 7:9] = 2, 1
    return clusters, grey(img), marks
