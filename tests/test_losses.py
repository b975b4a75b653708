"""Eq. 4-7 against values computed by hand on tiny tensors."""

import pytest
import torch

from napari_nsn2n.method.losses import nsn2n_loss


def _t(rows):
    return torch.tensor(rows, dtype=torch.float32).reshape(1, 1, 2, 2)


def test_loss_terms_match_hand_computed_values():
    x_a, x_b = _t([[0, 1], [2, 3]]), _t([[1, 1], [2, 5]])
    f_a, f_b = _t([[1, 2], [2, 2]]), _t([[0, 1], [4, 3]])
    f_mid = _t([[1, 1], [1, 1]])
    w = _t([[1, 1], [0, 1]])
    terms = nsn2n_loss(f_a, f_b, f_mid, x_a, x_b, w, lambda_rc=0.5, lambda_ic=1.0)
    # f_a - x_b = [0, 1, 0, -3] masked by W -> [0, 1, 0, -3]: mean sq = 10/4
    # f_b - x_a = [0, 0, 2, 0]  masked -> [0, 0, 0, 0]: 0  (W also applies to the first term)
    assert terms.recon.item() == pytest.approx(0.5 * (10 / 4 + 0))
    # f_a - f_b = [1, 1, -2, -1] masked -> [1, 1, 0, -1]: 3/4
    assert terms.rc.item() == pytest.approx(3 / 4)
    # (f_a + f_b)/2 = [0.5, 1.5, 3, 2.5]; f_mid - that = [0.5, -0.5, -2, -1.5] (no mask): 6.75/4
    assert terms.ic.item() == pytest.approx(6.75 / 4)
    assert terms.total.item() == pytest.approx(1.25 + 0.5 * 0.75 + 6.75 / 4)


def test_mask_applies_to_both_reconstruction_terms():
    """Eq. 4 with W on both terms: an unmatched pixel contributes nothing in either direction."""
    x_a, x_b = _t([[0, 0], [0, 0]]), _t([[0, 0], [0, 9]])
    f = _t([[0, 0], [0, 0]])
    unmatched_corner = _t([[1, 1], [1, 0]])
    terms = nsn2n_loss(f, f + x_b, f, x_a, x_b, unmatched_corner)
    assert terms.recon.item() == 0.0
    assert terms.rc.item() == 0.0
    full = nsn2n_loss(f, f + x_b, f, x_a, x_b, torch.ones_like(x_a))
    assert full.recon.item() == pytest.approx(0.5 * (81 / 4 + 81 / 4))


def test_lambda_weights_scale_terms():
    g = torch.Generator().manual_seed(0)
    tensors = [torch.rand(2, 1, 8, 8, generator=g) for _ in range(5)]
    w = (torch.rand(2, 1, 8, 8, generator=g) > 0.3).float()
    base = nsn2n_loss(*tensors, w, lambda_rc=0.0, lambda_ic=0.0)
    both = nsn2n_loss(*tensors, w, lambda_rc=2.0, lambda_ic=3.0)
    assert base.total.item() == pytest.approx(base.recon.item())
    assert both.total.item() == pytest.approx(
        base.recon.item() + 2 * base.rc.item() + 3 * base.ic.item()
    )


def test_self_term_holds_only_unmatched_pixels_to_their_own_slice():
    x_a, x_b = _t([[0, 1], [2, 3]]), _t([[1, 1], [2, 5]])
    f_a, f_b = _t([[1, 2], [2, 2]]), _t([[0, 1], [4, 3]])
    w = _t([[1, 1], [0, 1]])
    plain = nsn2n_loss(f_a, f_b, f_a, x_a, x_b, w)
    held = nsn2n_loss(f_a, f_b, f_a, x_a, x_b, w, unmatched=1 - w, lambda_self=2.0)
    assert plain.own is None
    # only the unmatched corner counts: f_a - x_a = 0 there, f_b - x_b = 2: (0 + 4 / 4) / 2
    assert held.own.item() == pytest.approx(0.5 * (0 + 4 / 4))
    assert held.total.item() == pytest.approx(plain.total.item() + 2.0 * 0.5)
    with pytest.raises(ValueError, match="unmatched"):
        nsn2n_loss(f_a, f_b, f_a, x_a, x_b, w, lambda_self=1.0)
