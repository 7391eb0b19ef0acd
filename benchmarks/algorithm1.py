"""Algorithm 1 of the MMT paper, transcribed literally: the 1.0 baseline of the speed checks.

Straight from /work/shared/seed/mmt-paper.txt (section 3 and Algorithm 1), with no
optimisation on purpose: two separate networks (model 1 and model 2, different
initialisations), two temporally averaged copies (mean model 1 and mean model 2, initialised
to the networks), the steps of Algorithm 1 one after another, and the label assignment ``h``
done on the host every iteration (label maps copied off the device, overlap matrix ``S``
counted with numpy, the assignment solved with :func:`scipy.optimize.linear_sum_assignment`).
It imports nothing from ``napari_mmtseg``: the engine cannot change what it is measured
against. ``benchmarks/gpu_check.py`` times it; its figures are in docs/performance.md.

    python benchmarks/algorithm1.py --size 481x321 --iters 5 --device cpu
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn


class Net(nn.Module):
    """The network of Fig. 1(b): M convolutional layers, the last one 1 x 1.

    ``M - 1`` blocks of [3 x 3 convolution, ReLU, batch normalisation] and a
    [1 x 1 convolution, batch normalisation] head giving ``q`` channels, the
    architecture of the prior work the paper follows (Kim et al. 2020).

    Parameters
    ----------
    in_channels : int
        Channels of the input image (3 for RGB).
    q : int
        Output channels, the most clusters (paper: 100).
    m : int
        Convolutional layers M, the head included (paper: 3).
    """

    def __init__(self, in_channels: int, q: int = 100, m: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(m - 1):
            layers += [nn.Conv2d(c, q, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(q)]
            c = q
        layers += [nn.Conv2d(c, q, 1), nn.BatchNorm2d(q)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map ``y_n`` of an image.

        Parameters
        ----------
        x : torch.Tensor
            (1, C, H, W) float32 image, values in [0, 1].

        Returns
        -------
        torch.Tensor
            (1, q, H, W) float32 features, one q-vector per pixel.
        """
        return self.body(x)


def l_tv(y: torch.Tensor) -> torch.Tensor:
    """Spatial continuity loss L_tv of section 3.2: L1 norms of vertical and horizontal steps.

    The paper writes the sums over all pixels and gives no value of beta; the mean is taken
    here, as in the code of the prior work it follows [23], so that beta = 1 weighs both terms
    alike at any image size.

    Parameters
    ----------
    y : torch.Tensor
        (1, q, H, W) feature map.

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    dy = (y[:, :, 1:, :] - y[:, :, :-1, :]).abs().mean()
    dx = (y[:, :, :, 1:] - y[:, :, :, :-1]).abs().mean()
    return dy + dx


def h(c_own: torch.Tensor, c_other: torch.Tensor, q: int) -> torch.Tensor:
    """Label assignment ``h`` (section 3.1): the other network's labels in this one's label space.

    The overlap similarity matrix ``S`` counts the pixels labelled ``i`` here and ``j`` by the
    other network; the one-to-one decision matrix maximising ``sum S * D`` (the programming
    model of section 3.1) is solved by the Hungarian algorithm on the host.

    Parameters
    ----------
    c_own : torch.Tensor
        (H, W) int64 labels of this network (argmax of its features).
    c_other : torch.Tensor
        (H, W) int64 labels of the other (mean) network.
    q : int
        Number of labels (channels).

    Returns
    -------
    torch.Tensor
        (H, W) int64 labels of ``c_other`` renamed into this network's labels, on the device
        of ``c_other``.
    """
    own = c_own.cpu().numpy().ravel()
    other = c_other.cpu().numpy().ravel()
    s = np.bincount(own * q + other, minlength=q * q).reshape(q, q)
    rows, cols = linear_sum_assignment(s, maximize=True)
    mapping = np.zeros(q, np.int64)
    mapping[cols] = rows
    return torch.from_numpy(mapping[other].reshape(c_other.shape)).to(c_other.device)


def run(
    image: np.ndarray,
    iters: int = 1000,
    q: int = 100,
    m: int = 3,
    beta: float = 1.0,
    alpha: float = 0.999,
    lr: float = 0.1,
    momentum: float = 0.9,
    device: str = "cpu",
    seed: int = 0,
    seconds: float | None = None,
):
    """Run Algorithm 1 on one image and time every iteration.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W, 3) uint8 RGB image (or (H, W, C) of any real dtype, values in [0, 255]).
    iters : int
        Iterations T (paper: 1000); the loop runs ``t = 2..T`` as written, T - 1 updates,
        at least one.
    q : int
        Output channels (paper: 100).
    m : int
        Convolutional layers M (paper: 3).
    beta : float
        Weight of L_tv.
    alpha : float
        Temporal ensemble momentum (paper: 0.999).
    lr : float
        SGD learning rate eta (paper: 0.1).
    momentum : float
        SGD momentum (paper: 0.9).
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.
    seed : int
        Seed of the initialisations (model 2 takes the generator's next draws).
    seconds : float, optional
        Stop after the iteration that passes this many seconds (a time cap for timing runs;
        None: run all T iterations).

    Returns
    -------
    labels : numpy.ndarray
        (H, W) int64 output L: argmax of mean model 1's features after the last iteration.
    seconds : list of float
        Wall-clock seconds of each iteration (the device synchronised at its end).
    """
    dev = torch.device(device)
    x = torch.from_numpy(np.asarray(image, np.float32).transpose(2, 0, 1) / 255.0)[None].to(dev)
    torch.manual_seed(seed)
    theta = [Net(x.shape[1], q, m).to(dev), Net(x.shape[1], q, m).to(dev)]  # line 1
    mean = [copy.deepcopy(net) for net in theta]  # line 2
    opts = [torch.optim.SGD(n.parameters(), lr=lr, momentum=momentum) for n in theta]
    times = []
    for _t in range(2, max(iters, 2) + 1):  # line 3
        if seconds is not None and sum(times) > seconds:
            break
        t0 = time.perf_counter()
        for k, other in ((0, 1), (1, 0)):  # lines 4-10 (model 1), then 11-17 (model 2)
            y = theta[k](x)
            with torch.no_grad():
                c_mean = mean[other](x).argmax(1)[0]
                target = h(y.detach().argmax(1)[0], c_mean, q)
            loss = F.cross_entropy(y, target[None]) + beta * l_tv(y)
            opts[k].zero_grad()
            loss.backward()
            opts[k].step()
            with torch.no_grad():  # theta_mean = alpha * theta_mean + (1 - alpha) * theta
                for pm, p in zip(mean[k].parameters(), theta[k].parameters()):
                    pm.mul_(alpha).add_(p, alpha=1.0 - alpha)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        times.append(time.perf_counter() - t0)
    with torch.no_grad():
        labels = mean[0](x).argmax(1)[0].cpu().numpy()
    return labels, times


def main(argv=None) -> int:
    """Time a few iterations on a random image and print seconds per iteration.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status, 0.
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="481x321", help="W x H of a random test image")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    w, hgt = (int(v) for v in args.size.lower().split("x"))
    img = np.random.default_rng(0).integers(0, 256, (hgt, w, 3), dtype=np.uint8)
    labels, seconds = run(img, iters=args.iters, device=args.device)
    print(
        f"{len(seconds)} iterations, median {np.median(seconds):.4f} s each, "
        f"{len(np.unique(labels))} labels"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
