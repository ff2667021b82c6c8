#include "packd/packd.hpp"

float odr_b_sum() { return packd::sum(packd::matmul(packd::ones<float>({4, 1}), packd::ones<float>({1, 5}))).item(); }
