"""The small CNN of Kanezaki 2018 / Kim 2020 / the MMT paper, and its losses.

Also the total-variation loss and the EMA (mean-teacher) update. No Qt, no napari.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SegNet", "SegNetPair", "make_models", "tv_loss", "ema_update", "ema_alpha"]


class SegNet(nn.Module):
    """``n_conv`` blocks of [3x3 conv -> ReLU -> BN] then a [1x1 conv -> BN] head.

    ``n_models`` independent networks can live in one module as grouped
    convolutions (``groups=n_models``): each group has its own weights and BN
    channels, so the result is exactly ``n_models`` separate networks, run in
    one call. Input ``(B, n_models * in_channels, H, W)`` (the image repeated
    per model); output ``(B, n_models, q, H, W)``.

    Parameters
    ----------
    in_channels : int
        Channels of the image.
    q : int, optional
        Output channels (the most clusters).
    n_conv : int, optional
        3x3 conv blocks (at least 1).
    n_models : int, optional
        Independent networks in the module.
    padding_mode : str, optional
        The convolutions' padding (``"zeros"``, ``"reflect"``, ``"replicate"``).
    """

    def __init__(
        self,
        in_channels: int,
        q: int = 100,
        n_conv: int = 2,
        n_models: int = 1,
        padding_mode: str = "zeros",
    ):
        super().__init__()
        if n_conv < 1:
            raise ValueError(f"n_conv must be >= 1, got {n_conv}")
        self.in_channels, self.q, self.n_conv, self.n_models = in_channels, q, n_conv, n_models
        g = n_models
        layers: list[nn.Module] = []
        c_in = in_channels
        for _ in range(n_conv):
            layers += [
                nn.Conv2d(
                    c_in * g, q * g, kernel_size=3, padding=1, groups=g, padding_mode=padding_mode
                ),
                nn.ReLU(inplace=True),
                nn.BatchNorm2d(q * g),
            ]
            c_in = q
        layers += [nn.Conv2d(q * g, q * g, kernel_size=1, groups=g), nn.BatchNorm2d(q * g)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the network(s).

        Parameters
        ----------
        x : torch.Tensor of shape (B, C, H, W) or (B, n_models * C, H, W)
            The image (repeated per network when given once), float32.

        Returns
        -------
        torch.Tensor of shape (B, n_models, q, H, W)
            Each network's responses.
        """
        if x.shape[1] == self.in_channels and self.n_models > 1:
            x = x.repeat(1, self.n_models, 1, 1)
        y = self.body(x)
        return y.reshape(y.shape[0], self.n_models, self.q, *y.shape[2:])


class SegNetPair(nn.Module):
    """Two separate :class:`SegNet` run one after the other.

    Same interface and output layout ``(B, 2, q, H, W)`` as ``SegNet(..., n_models=2)``.
    On the CPU this is faster than one grouped call (see docs/performance.md).

    Parameters
    ----------
    *args, **kwargs
        The parameters of :class:`SegNet` (``in_channels``, ``q``, ``n_conv``,
        ``padding_mode``), given to each of the two; not ``n_models``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.nets = nn.ModuleList([SegNet(*args, **kwargs) for _ in range(2)])
        first = self.nets[0]
        self.in_channels, self.q, self.n_conv = first.in_channels, first.q, first.n_conv
        self.n_models = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the network(s).

        Parameters
        ----------
        x : torch.Tensor of shape (B, C, H, W) or (B, 2 * C, H, W)
            The image (repeated per network when given once), float32.

        Returns
        -------
        torch.Tensor of shape (B, 2, q, H, W)
            Each network's responses.
        """
        c = self.in_channels
        xs = (x, x) if x.shape[1] == c else (x[:, :c], x[:, c:])
        return torch.cat([n(xi) for n, xi in zip(self.nets, xs)], dim=1)


def make_models(
    in_channels: int, q: int, n_conv: int, n_models: int, fused: bool, padding_mode: str = "zeros"
) -> nn.Module:
    """One network, or two: fused into grouped convolutions, or separate.

    Parameters
    ----------
    in_channels : int
        Channels of the image.
    q : int
        Output channels.
    n_conv : int
        3x3 conv blocks.
    n_models : int
        1, or 2 (MMT's pair).
    fused : bool
        Two networks as one grouped :class:`SegNet` (True) or a :class:`SegNetPair`.
    padding_mode : str, optional
        The convolutions' padding.

    Returns
    -------
    SegNet or SegNetPair
        The network(s), freshly initialised from torch's global generator.
    """
    if n_models == 2 and not fused:
        return SegNetPair(in_channels, q, n_conv, padding_mode=padding_mode)
    return SegNet(in_channels, q, n_conv, n_models=n_models, padding_mode=padding_mode)


def tv_loss(y: torch.Tensor) -> torch.Tensor:
    """Total variation: mean absolute vertical plus horizontal difference.

    Kim 2020's continuity loss; the MMT paper's TV term (eq. 3) divided by the number of
    elements, so ``beta`` does not depend on the image size.

    Parameters
    ----------
    y : torch.Tensor of shape (..., H, W)
        Network responses.

    Returns
    -------
    torch.Tensor
        A scalar.
    """
    dy = (y[..., 1:, :] - y[..., :-1, :]).abs().mean()
    dx = (y[..., :, 1:] - y[..., :, :-1]).abs().mean()
    return dy + dx


def ema_alpha(step: int, alpha: float, warmup: bool = True) -> float:
    """The EMA momentum of a step.

    With warm-up (as in Ge et al.'s MMT code) ``min(1 - 1/(step + 1), alpha)``, so early
    teachers follow the students instead of staying at their random initialisation.

    Parameters
    ----------
    step : int
        The step, 0-based.
    alpha : float
        The momentum after warm-up (the paper's alpha).
    warmup : bool, optional
        Whether to warm up.

    Returns
    -------
    float
        The momentum, in [0, alpha].
    """
    return min(1.0 - 1.0 / (step + 1), alpha) if warmup else alpha


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, a: float) -> None:
    """Move the teacher toward the student: ``teacher = a * teacher + (1 - a) * student``.

    MMT eq. 2, on parameters only (BatchNorm running buffers are not averaged: teachers
    run BatchNorm on batch statistics).

    Parameters
    ----------
    teacher : torch.nn.Module
        Updated in place.
    student : torch.nn.Module
        The same architecture.
    a : float
        The momentum (:func:`ema_alpha`).
    """
    t = [p for p in teacher.parameters()]
    s = [p.detach() for p in student.parameters()]
    torch._foreach_mul_(t, a)
    torch._foreach_add_(t, s, alpha=1.0 - a)
