#pragma once
// The Tensor class, complete: metadata, views, copies, factories, printing and the autograd
// methods (backward, grad, requires_grad_). Include this for tensors; ops.hpp for the math.
#include "packd/autograd/engine.hpp"
#include "packd/core/print.hpp"
#include "packd/core/tensor.hpp"
#include "packd/ops/factory.hpp"
#include "packd/ops/view.hpp"
