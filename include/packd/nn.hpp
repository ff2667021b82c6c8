#pragma once
// Modules: nn::Module with named parameters and PyTorch state_dict keys, and the layers.
#include "packd/nn/init.hpp"
#include "packd/nn/layers/basic.hpp"
#include "packd/nn/layers/batchnorm.hpp"
#include "packd/nn/layers/conv.hpp"
#include "packd/nn/layers/conv_bn.hpp"
#include "packd/nn/module.hpp"
