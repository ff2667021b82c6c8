#!/usr/bin/python3
"""PyTorch 1.13 parity fixtures for softmax, log_softmax and logsumexp (include/packd/ops/softmax.hpp).

    /usr/bin/python3 tests/reference/make_softmax_fixtures.py

writes tests/reference/fixtures/softmax.safetensors (layout: fixture_family.py); tests/ops/test_softmax.cpp
applies the same ops and views.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixture_family import Family, randn  # noqa: E402

SCRIPT = "tests/reference/make_softmax_fixtures.py"
torch.manual_seed(20261201)

f = Family("softmax", SCRIPT)
f.case("softmax_dim1", lambda x: torch.softmax(x, 1), [randn(2, 5, 3, 4)])
f.case("softmax_last", lambda x: torch.softmax(x, -1), [randn(3, 7)])
f.case("softmax_dim0", lambda x: torch.softmax(x, 0), [randn(4, 3, 2)])
# spatial softmax over H*W positions of L maps (PACKD's prototype attention)
f.case("softmax_spatial", lambda x: torch.softmax(x.flatten(2), -1), [randn(2, 3, 5, 6)],
       views=[lambda x: x])
f.case("softmax_noncontig", lambda x: torch.softmax(x, 1), [randn(4, 6, 5)], views=[lambda x: x.permute(2, 0, 1)])
f.case("softmax_large", lambda x: torch.softmax(x, 1), [randn(3, 6) * 30 + 1000])
f.case("log_softmax_dim1", lambda x: torch.log_softmax(x, 1), [randn(2, 5, 3, 4)])
f.case("log_softmax_last", lambda x: torch.log_softmax(x, -1), [randn(3, 7)])
f.case("log_softmax_noncontig", lambda x: torch.log_softmax(x, -1), [randn(4, 6, 5)],
       views=[lambda x: x.transpose(0, 2)])
f.case("logsumexp_dim1", lambda x: torch.logsumexp(x, 1), [randn(2, 5, 3, 4)])
f.case("logsumexp_dims02_keep", lambda x: torch.logsumexp(x, (0, 2), keepdim=True), [randn(3, 4, 5)])
f.case("logsumexp_large", lambda x: torch.logsumexp(x, -1), [randn(3, 6) * 30 - 1000])
f.save()
