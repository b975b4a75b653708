"""The NS-N2N objective, Eq. 4-7 of Zhou et al.

With f = f_theta, W the weight mask of the pair (x_i, x_{i+1}) and mean() the average over the
batch and the pixels (the paper's squared L2 norm divided by the constant pixel count):

    L_recon = 1/2 [ mean(((f(x_i) - x_{i+1}) W)^2) + mean(((f(x_{i+1}) - x_i) W)^2) ]     (Eq. 4)
    L_RC    = mean(((f(x_i) - f(x_{i+1})) W)^2)                                          (Eq. 5)
    L_IC    = mean((f((x_i + x_{i+1}) / 2) - (f(x_i) + f(x_{i+1})) / 2)^2)               (Eq. 6)
    L       = L_recon + lambda_RC L_RC + lambda_IC L_IC                                  (Eq. 7)

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
) -> LossTerms:
    """Loss terms for a batch of pairs: ``f_a = f(x_i)``, ``f_b = f(x_{i+1})``, ``f_mid = f(mean)``.

    ``reduction``: "mean" averages over the batch and the pixels; "sum" sums over each pair's
    pixels and averages over the batch (the paper's squared L2 norm). Under Adam the two differ
    only through its eps, which the mean's small gradients fall under in the deep layers.
    ``target_a`` / ``target_b`` / ``recon_weight`` replace x_{i+1} / x_i / W in L_recon (guided
    targets, ``method.guided``); L_RC keeps W.
    """
    weight = weight.to(f_a.dtype)
    reduce = _REDUCTIONS[reduction]
    target_a = x_b if target_a is None else target_a
    target_b = x_a if target_b is None else target_b
    recon_weight = weight if recon_weight is None else recon_weight.to(f_a.dtype)
    recon = 0.5 * (
        reduce(((f_a - target_a) * recon_weight).square())
        + reduce(((f_b - target_b) * recon_weight).square())
    )
    rc = reduce(((f_a - f_b) * weight).square())
    ic = reduce((f_mid - 0.5 * (f_a + f_b)).square())
    return LossTerms(total=recon + lambda_rc * rc + lambda_ic * ic, recon=recon, rc=rc, ic=ic)


def _per_pair_sum(squares: torch.Tensor) -> torch.Tensor:
    return squares.sum(dim=tuple(range(1, squares.ndim))).mean()


_REDUCTIONS = {"mean": torch.Tensor.mean, "sum": _per_pair_sum}
LOSS_REDUCTIONS = tuple(_REDUCTIONS)
