"""The small CNN of Kanezaki 2018 / Kim 2020 / the MMT paper, and its losses.

Also the total-variation loss and the EMA (mean-teacher) update. No Qt, no napari.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = [
    "SegNet",
    "SegNetPair",
    "channel_argmax",
    "inference_network",
    "make_models",
    "tv_loss",
    "ema_update",
    "ema_alpha",
    "with_outputs_reordered",
]


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
        y = self.body(self._per_model(x))
        return y.reshape(y.shape[0], self.n_models, self.q, *y.shape[2:])

    def forward_channels_last(self, x: torch.Tensor) -> torch.Tensor:
        """Run the network(s), the responses laid out channels-last.

        What :meth:`forward` computes, without moving a channels-last network's output
        back to channels-first (:func:`inference_network`).

        Parameters
        ----------
        x : torch.Tensor
            As for :meth:`forward`.

        Returns
        -------
        torch.Tensor of shape (B, H, W, n_models, q)
            Each network's responses.
        """
        y = self.body(self._per_model(x)).permute(0, 2, 3, 1)
        return y.reshape(*y.shape[:3], self.n_models, self.q)

    def forward_each_channels_last(self, x: torch.Tensor, which: int | None = None) -> tuple:
        """Each network's responses on its own, channels-last.

        Parameters
        ----------
        x : torch.Tensor
            As for :meth:`forward`.
        which : int, optional
            Only this network's (None: every network's, in order).

        Returns
        -------
        tuple of torch.Tensor of shape (B, H, W, q)
            Views of :meth:`forward_channels_last`'s output.
        """
        y = self.forward_channels_last(x)
        ks = range(self.n_models) if which is None else (which,)
        return tuple(y[..., k, :] for k in ks)

    def _per_model(self, x: torch.Tensor) -> torch.Tensor:
        """The input of the grouped convolutions: the image once per network."""
        if x.shape[1] == self.in_channels and self.n_models > 1:
            return x.repeat(1, self.n_models, 1, 1)
        return x


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
        return torch.cat([n(xi) for n, xi in zip(self.nets, self._per_net(x))], dim=1)

    def forward_channels_last(self, x: torch.Tensor) -> torch.Tensor:
        """Run the networks, the responses laid out channels-last.

        Parameters
        ----------
        x : torch.Tensor
            As for :meth:`forward`.

        Returns
        -------
        torch.Tensor of shape (B, H, W, 2, q)
            Each network's responses.
        """
        return torch.stack(self.forward_each_channels_last(x), dim=3)

    def forward_each_channels_last(self, x: torch.Tensor, which: int | None = None) -> tuple:
        """Each network's responses on its own, channels-last, without joining them.

        Parameters
        ----------
        x : torch.Tensor
            As for :meth:`forward`.
        which : int, optional
            Only this network's, the other not run (None: both, in order).

        Returns
        -------
        tuple of torch.Tensor of shape (B, H, W, q)
            What :meth:`forward_channels_last` gives as ``[..., k, :]``.
        """
        xs = self._per_net(x)
        ks = range(2) if which is None else (which,)
        return tuple(self.nets[k].forward_channels_last(xs[k])[..., 0, :] for k in ks)

    def _per_net(self, x: torch.Tensor) -> tuple:
        """Each network's input."""
        c = self.in_channels
        return (x, x) if x.shape[1] == c else (x[:, :c], x[:, c:])


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


def inference_network(net: nn.Module) -> nn.Module:
    """A copy of frozen network(s) for inference: BatchNorm folded away, channels last.

    A BatchNorm in eval mode is the per-channel affine map ``a * x + s``, with
    ``a = weight / sqrt(running_var + eps)`` and ``s = bias - running_mean * a``. After a
    convolution it folds into that convolution's weights and bias; before one (a block's
    BatchNorm follows its ReLU) it folds into the next convolution's input side where that is
    exact: a 1x1 kernel, or ``reflect`` / ``replicate`` padding, which commute with a
    per-channel map (``zeros`` padding does not: that BatchNorm stays). On the CPU the copy's
    tensors are channels-last, the layout its convolution kernels run fastest on (other
    devices keep torch's layout). The responses equal ``net``'s up to float rounding
    (docs/performance.md).

    Parameters
    ----------
    net : SegNet or SegNetPair
        Network(s) in eval mode, BatchNorm frozen
        (:func:`napari_mmtseg.infer.freeze_bn_to_image_stats`); not changed.

    Returns
    -------
    SegNet or SegNetPair
        The same interface and output layout, in eval mode, without gradients.
    """
    out = copy.deepcopy(net).eval()
    for seg in [m for m in out.modules() if isinstance(m, SegNet)]:
        seg.body = _fold_batchnorm(seg.body)
    out.requires_grad_(False)
    on_cpu = all(t.device.type == "cpu" for t in out.parameters())
    return out.to(memory_format=torch.channels_last) if on_cpu else out


def with_outputs_reordered(net: nn.Module, k: int, order: torch.Tensor) -> nn.Module:
    """A copy of network(s) whose network ``k`` gives its channel ``order[j]`` as channel ``j``.

    The head's 1x1 convolution (and a BatchNorm after it) of network ``k`` has its output
    channels reordered, so the copy's responses are ``net``'s with that network's channels
    permuted (``y[:, k, order]``) without gathering them pixel by pixel.

    Parameters
    ----------
    net : SegNet or SegNetPair
        Network(s) with two networks; not changed.
    k : int
        Which network (0 or 1).
    order : torch.Tensor of shape (q,), int64
        A permutation of 0..q-1.

    Returns
    -------
    SegNet or SegNetPair
        The copy, same layout and device.
    """
    out = copy.deepcopy(net)
    pair = isinstance(out, SegNetPair)
    seg = out.nets[k] if pair else out
    block = slice(0, seg.q) if pair else slice(k * seg.q, (k + 1) * seg.q)
    layers = list(seg.body)
    head = max(i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d))
    with torch.no_grad():
        for m in layers[head:]:
            for name in ("weight", "bias", "running_mean", "running_var"):
                t = getattr(m, name, None)
                if t is not None:
                    t.data[block] = t.data[block][order.to(t.device)]
    return out


def _bn_affine(bn: nn.BatchNorm2d) -> tuple:
    """(a, s) of an eval-mode BatchNorm: ``bn(x) = a * x + s`` per channel."""
    a = bn.weight.detach() / (bn.running_var + bn.eps).sqrt()
    return a, bn.bias.detach() - bn.running_mean * a


def _fold_batchnorm(body: nn.Sequential) -> nn.Sequential:
    """``body`` with each BatchNorm folded into a neighbouring convolution where exact."""
    layers: list[nn.Module] = []
    pending = None  # a BatchNorm waiting for the next convolution
    for m in body:
        if isinstance(m, nn.BatchNorm2d) and layers and isinstance(layers[-1], nn.Conv2d):
            conv, (a, s) = layers[-1], _bn_affine(m)
            conv.weight.data.mul_(a[:, None, None, None])
            conv.bias.data.mul_(a).add_(s)
        elif isinstance(m, nn.BatchNorm2d):
            pending = m
        elif isinstance(m, nn.Conv2d):
            conv = copy.deepcopy(m)
            if conv.bias is None:
                conv.bias = nn.Parameter(torch.zeros_like(conv.weight[:, 0, 0, 0]))
            exact = conv.kernel_size == (1, 1) or conv.padding_mode != "zeros"
            if pending is not None and exact:
                a, s = (t.reshape(conv.groups, -1) for t in _bn_affine(pending))
                per_out = conv.out_channels // conv.groups  # group of each output channel
                a, s = a.repeat_interleave(per_out, 0), s.repeat_interleave(per_out, 0)
                w = conv.weight.data
                conv.bias.data.add_((w * s[:, :, None, None]).sum((1, 2, 3)))
                w.mul_(a[:, :, None, None])
            elif pending is not None:
                layers.append(pending)
            pending = None
            layers.append(conv)
        else:
            layers.append(m)
    if pending is not None:
        layers.append(pending)
    return nn.Sequential(*layers)


def channel_argmax(y: torch.Tensor, dim: int) -> torch.Tensor:
    """The channel of the largest response along ``dim``, the first one on a tie.

    What ``y.argmax(dim)`` gives, through ``torch.max``, whose CPU kernel reduces a
    dimension that is not the last about three times faster (docs/performance.md).

    Parameters
    ----------
    y : torch.Tensor
        Network responses, channels along ``dim``.
    dim : int
        The channel dimension.

    Returns
    -------
    torch.Tensor, int64
        ``y``'s shape without ``dim``.
    """
    return y.max(dim).indices


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
