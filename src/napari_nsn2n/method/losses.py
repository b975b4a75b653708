"""The NS-N2N objective, Eq. 4-7 of Zhou et al.

With f = f_theta, W the weight mask of the pair (x_i, x_{i+1}) and mean() the average over the
batch and the pixels (the paper's squared L2 norm divided by the constant pixel count):

    L_recon = 1/2 [ mean(((f(x_i) - x_{i+1}) W)^2) + mean(((f(x_{i+1}) - x_i) W)^2) ]     (Eq. 4)
    L_RC    = mean(((f(x_i) - f(x_{i+1})) W)^2)                                          (Eq. 5)
    L_IC    = mean((f((x_i + x_{i+1}) / 2) - (f(x_i) + f(x_{i+1})) / 2)^2)               (Eq. 6)
    L       = L_recon + lambda_RC L_RC + lambda_IC L_IC                                  (Eq. 7)

Our addition, off by default (``lambda_self``; docs/method.md): with U = 1 - W, the unmatched
pixels, where nothing above holds the output to anything, are held to their own slice,

    L_self  = 1/2 [ mean(((f(x_i) - x_i) U)^2) + mean(((f(x_{i+1}) - x_{i+1}) U)^2) ]
    L      += lambda_self L_self

so that structure that changes between slices (a small lesion) is not filled in from elsewhere.

W multiplies BOTH terms of Eq. 4: the printed equation omits it on the first, a typo (the text
says L_recon, like L_RC, "is applied only in the regions where W = 1"). L_IC is unmasked.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LossTerms:
    total: torch.Tensor
    recon: torch.Tensor
    rc: torch.Tensor
    ic: torch.Tensor
    own: torch.Tensor | None = None  # L_self, where lambda_self > 0


def nsn2n_loss(
    f_a: torch.Tensor,
    f_b: torch.Tensor,
    f_mid: torch.Tensor,
    x_a: torch.Tensor,
    x_b: torch.Tensor,
    weight: torch.Tensor,
    lambda_rc: float = 0.5,
    lambda_ic: float = 1.0,
    reduction: str = "mean",
    target_a: torch.Tensor | None = None,
    target_b: torch.Tensor | None = None,
    recon_weight: torch.Tensor | None = None,
    unmatched: torch.Tensor | None = None,
    lambda_self: float = 0.0,
) -> LossTerms:
    """Loss terms for a batch of pairs: ``f_a = f(x_i)``, ``f_b = f(x_{i+1})``, ``f_mid = f(mean)``.

    ``reduction``: "mean" averages over the batch and the pixels; "sum" sums over each pair's
    pixels and averages over the batch (the paper's squared L2 norm). Under Adam the two differ
    only through its eps, which the mean's small gradients fall under in the deep layers.
    ``target_a`` / ``target_b`` / ``recon_weight`` replace x_{i+1} / x_i / W in L_recon (guided
    targets, ``method.guided``); L_RC keeps W. ``unmatched`` (U, 1 - W without the held-out
    pixels) weighs L_self, added with ``lambda_self`` where that is above 0.
    """
    weight = weight.to(f_a.dtype)
    reduce = _REDUCTIONS[reduction]
    target_a = x_b if target_a is None else target_a
    target_b = x_a if target_b is None else target_b
    recon_weight = weight if recon_weight is None else recon_weight.to(f_a.dtype)
    recon = _both_directions(reduce, f_a - target_a, f_b - target_b, recon_weight)
    rc = reduce(((f_a - f_b) * weight).square())
    ic = reduce((f_mid - 0.5 * (f_a + f_b)).square())
    total = recon + lambda_rc * rc + lambda_ic * ic
    own = None
    if lambda_self > 0:
        if unmatched is None:
            raise ValueError("lambda_self > 0 needs the unmatched weights")
        own = _both_directions(reduce, f_a - x_a, f_b - x_b, unmatched.to(f_a.dtype))
        total = total + lambda_self * own
    return LossTerms(total=total, recon=recon, rc=rc, ic=ic, own=own)


def _both_directions(reduce, error_a, error_b, weight: torch.Tensor) -> torch.Tensor:
    """1/2 [reduce((error_a weight)^2) + reduce((error_b weight)^2)]: a term of both pair
    directions (L_recon, L_self)."""
    return 0.5 * (reduce((error_a * weight).square()) + reduce((error_b * weight).square()))


def _per_pair_sum(squares: torch.Tensor) -> torch.Tensor:
    return squares.sum(dim=tuple(range(1, squares.ndim))).mean()


_REDUCTIONS = {"mean": torch.Tensor.mean, "sum": _per_pair_sum}
LOSS_REDUCTIONS = tuple(_REDUCTIONS)
