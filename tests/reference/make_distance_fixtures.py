#!/usr/bin/python3
"""PyTorch 1.13 parity fixtures for cosine_similarity and normalize (include/packd/ops/distance.hpp).

    /usr/bin/python3 tests/reference/make_distance_fixtures.py

writes tests/reference/fixtures/distance.safetensors (layout: fixture_family.py).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixture_family import Family, randn  # noqa: E402

SCRIPT = "tests/reference/make_distance_fixtures.py"
torch.manual_seed(20261202)


def eps_rows(c):
    """(4, c): a zero row, a row with norm ~3e-9 (< eps 1e-8), a row with norm ~1e-6 and an ordinary one."""
    x = randn(4, c)
    x[0] = 0
    x[1] = x[1] / x[1].norm() * 3e-9
    x[2] = x[2] / x[2].norm() * 1e-6
    return x


f = Family("distance", SCRIPT)
cos = F.cosine_similarity
f.case("cos_nchw", lambda a, b: cos(a, b, dim=1), [randn(2, 6, 3, 5), randn(2, 6, 3, 5)])
f.case("cos_last", lambda a, b: cos(a, b, dim=-1), [randn(4, 7), randn(4, 7)])
f.case("cos_dim0", lambda a, b: cos(a, b, dim=0), [randn(5, 3), randn(5, 3)])
# broadcasting: a per-channel vector against a map; a broadcast dim inside the positions
f.case("cos_bcast", lambda a, b: cos(a, b, dim=1), [randn(2, 6, 3, 5), randn(1, 6, 3, 1)])
f.case("cos_bcast_rank", lambda a, b: cos(a, b, dim=-1), [randn(3, 4, 6), randn(6)])
f.case("cos_noncontig", lambda a, b: cos(a, b, dim=1), [randn(5, 3, 2, 6), randn(2, 6, 3, 5)],
       views=[lambda a: a.permute(2, 3, 1, 0), None])
# eps semantics: zero vectors, norms below eps (each clamped separately), on either side
e1, e2 = eps_rows(5), eps_rows(5)
f.case("cos_eps", lambda a, b: cos(a, b, dim=1), [e1, randn(4, 5)])
f.case("cos_eps_both", lambda a, b: cos(a, b, dim=1), [e1, e2.flip(0)])
f.case("cos_eps_nchw", lambda a, b: cos(a, b, dim=1), [eps_rows(6).t().reshape(1, 6, 2, 2), randn(1, 6, 2, 2)])

norm = F.normalize
f.case("normalize_nchw", lambda x: norm(x, p=2, dim=1), [randn(2, 5, 3, 4)])
f.case("normalize_last", lambda x: norm(x, dim=-1), [randn(3, 6)])
f.case("normalize_noncontig", lambda x: norm(x, dim=1), [randn(4, 5, 3)], views=[lambda x: x.transpose(0, 2)])
f.case("normalize_eps", lambda x: norm(x, dim=1), [torch.cat([eps_rows(5), 1e-13 * randn(1, 5)])])
f.save()
