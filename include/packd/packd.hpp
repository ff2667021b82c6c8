#pragma once
// Umbrella header: everything in packd. Convenient for examples and small programs; larger
// projects include the fine-grained headers they use (packd/tensor.hpp, packd/ops.hpp, ...).
#include "packd/autograd/gradcheck.hpp"
#include "packd/autograd/grad_mode.hpp"
#include "packd/core/allocator.hpp"
#include "packd/core/generator.hpp"
#include "packd/ops.hpp"
#include "packd/tensor.hpp"
