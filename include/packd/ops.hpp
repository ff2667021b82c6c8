#pragma once
// All tensor ops: elementwise with broadcasting, reductions, matrix products.
#include "packd/ops/elementwise.hpp"
#include "packd/ops/linalg.hpp"
#include "packd/ops/reduce.hpp"
#include "packd/tensor.hpp"
