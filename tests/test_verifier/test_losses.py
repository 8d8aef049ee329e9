"""Loss maths on hand-built tensors (CACRE Eq. 8-20)."""

import math

import pytest
import torch

from verifier.losses import (
    MultiGranularityInfoNCE,
    dynamic_margin,
    expected_k,
    global_similarity,
    hard_negative_mask,
    infonce_from_scores,
    local_similarity,
    mean_pool,
    multi_granularity_infonce,
)
from verifier.model.configs import InfoNceParams

T = torch.tensor


def test_local_similarity_per_position_with_masks():
    xa = T([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])  # (1, 3, 2)
    xb = T([[[1.0, 0.0], [1.0, 0.0]]])  # (1, 2, 2): shorter, padded to 3
    ma, mb = T([[True, True, True]]), T([[True, True]])
    # positions: cos=1, cos=0, (padding in b)
    assert local_similarity(xa, ma, xb, mb, tau=0.5).item() == pytest.approx((1 + 0) / 2 / 0.5)
    assert local_similarity(xa, ma, xb, mb, tau=1.0, mask="anchor").item() == pytest.approx((1 + 0 + 0) / 3)


def test_local_similarity_maxsim():
    xa = T([[[1.0, 0.0], [0.0, 1.0]]])
    xb = T([[[0.0, 2.0], [3.0, 0.0], [5.0, 5.0]]])
    mb = T([[True, True, False]])  # the last position is padding
    out = local_similarity(xa, T([[True, True]]), xb, mb, tau=1.0, mode="maxsim")
    assert out.item() == pytest.approx(1.0)  # each anchor token finds an identical direction


def test_global_similarity_is_cosine_of_masked_means():
    xa = T([[[1.0, 0.0], [9.0, 9.0]]])
    ma = T([[True, False]])
    xb = T([[[0.0, 1.0], [1.0, 0.0]]])
    mb = T([[True, True]])
    assert torch.allclose(mean_pool(xb, mb), T([[0.5, 0.5]]))
    assert global_similarity(xa, ma, xb, mb, tau=0.1).item() == pytest.approx(math.sqrt(0.5) / 0.1, rel=1e-5)


def test_hard_negatives_are_the_top_ceil_k():
    s = T([[0.1, 0.9, 0.5, 0.3, 0.7], [0.2, 0.8, 0.4, 0.0, 0.0]])
    mask = T([[True] * 5, [True, True, True, False, False]])
    hard = hard_negative_mask(s, mask, top_k=0.8)  # K = 4 and ceil(2.4) = 3
    assert hard.tolist() == [[False, True, True, True, True], [True, True, True, False, False]]
    assert hard_negative_mask(s, mask, top_k=0.4).sum(-1).tolist() == [2, 2]
    assert expected_k(0.8, 5) == 4 and expected_k(0.8, 3) == 3


def test_dynamic_margin():
    m = dynamic_margin(T([2.0]), T([[1.0, 0.0, 99.0]]), T([[True, True, False]]), base_margin=0.08, beta=0.1)
    assert m.item() == pytest.approx(0.08 + 0.1 * (2.0 - 0.5))


def test_loss_equals_hand_computation():
    l_pos, g_pos = T([2.0]), T([1.0])
    l_neg, g_neg = T([[1.0, 0.0, 3.0]]), T([[0.5, 0.0, 1.0]])
    mask = T([[True, True, True]])
    loss = infonce_from_scores(l_pos, l_neg, g_pos, g_neg, mask, w=0.7, top_k=0.5, base_margin=0.08, beta=0.05)
    s_pos = 0.7 * 2 + 0.3 * 1
    s_neg = [0.7 * 1 + 0.3 * 0.5, 0.0, 0.7 * 3 + 0.3 * 1]  # 0.85, 0, 2.4
    m = 0.08 + 0.05 * (1.0 - 0.5)
    hard = [s_neg[2], s_neg[0]]  # K = ceil(0.5 * 3) = 2 highest
    want = -math.log(math.exp(s_pos) / (math.exp(s_pos) + sum(math.exp(h - m) for h in hard)))
    assert loss.item() == pytest.approx(want, rel=1e-6)


def test_full_loss_composes_the_pieces_and_handles_per_pair_anchors():
    torch.manual_seed(0)
    b, n, lt, lr, d = 2, 3, 5, 4, 6
    xa = torch.randn(b, n + 1, lt, d)  # per-pair text anchors
    ma = torch.ones(b, n + 1, lt, dtype=torch.bool)
    xp, mp = torch.randn(b, lr, d), torch.ones(b, lr, dtype=torch.bool)
    xn, mn = torch.randn(b, n, lr, d), torch.ones(b, n, lr, dtype=torch.bool)
    neg_mask = T([[True, True, True], [True, False, False]])
    params = InfoNceParams(tau=0.1, w=0.6, top_k=1.0, base_margin=0.0, beta=0.0)
    got = multi_granularity_infonce(xa, ma, xp, mp, xn, mn, neg_mask, params)
    for i in range(b):
        s = lambda a, ma_, x, m: 0.6 * local_similarity(a, ma_, x, m, 0.1) + 0.4 * global_similarity(a, ma_, x, m, 0.1)  # noqa: E731
        pos = s(xa[i, 0], ma[i, 0], xp[i], mp[i])
        negs = [s(xa[i, j + 1], ma[i, j + 1], xn[i, j], mn[i, j]) for j in range(n) if neg_mask[i, j]]
        want = -torch.log_softmax(torch.stack([pos, *negs]), 0)[0]
        assert got[i].item() == pytest.approx(want.item(), rel=1e-5)
    module = MultiGranularityInfoNCE(params)
    assert module(xa, ma, xp, mp, xn, mn, neg_mask).item() == pytest.approx(got.mean().item(), rel=1e-6)
    with pytest.raises(ValueError):
        InfoNceParams(top_k=0.0)


def test_margin_is_detached_by_default():
    g_pos = torch.tensor([1.0], requires_grad=True)
    loss = infonce_from_scores(T([1.0]), T([[0.5]]), g_pos, T([[0.2]]), T([[True]]), 0.0, 1.0, 0.0, 1.0)
    loss.backward()
    detached_grad = g_pos.grad.clone()
    g_pos.grad = None
    infonce_from_scores(
        T([1.0]), T([[0.5]]), g_pos, T([[0.2]]), T([[True]]), 0.0, 1.0, 0.0, 1.0, detach_margin=False
    ).backward()
    assert not torch.allclose(detached_grad, g_pos.grad)
