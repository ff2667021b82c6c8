#pragma once
// The Tensor class, complete: metadata, views, copies, factories, printing, the autograd methods
// (backward, grad, requires_grad_) and the core ops every backward formula may use (elementwise,
// reductions). Every op family header includes this, so any one packd header is enough for a TU.
#include "packd/autograd/engine.hpp"
#include "packd/core/print.hpp"
#include "packd/core/tensor.hpp"
#include "packd/ops/elementwise.hpp"
#include "packd/ops/factory.hpp"
#include "packd/ops/reduce.hpp"
#include "packd/ops/view.hpp"
