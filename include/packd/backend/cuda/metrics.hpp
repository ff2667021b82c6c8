#pragma once
// CUDA evaluation metrics: the declarations eval/metrics.hpp calls through backend::dispatch for
// scores on a CUDA device, so that millions of pixel scores are not copied to the host. Defined in
// cuda/metrics.cu (Thrust on the packd stream) for scores float / double and labels float, double,
// int64_t; never called in a build without the CUDA backend (dispatch discards the call).
#include <cstdint>

namespace packd::cuda {

// sklearn's roc_auc_score of n scores with 0/1 labels, both contiguous on the current CUDA device
// (`device`): the same value as the CPU's eval::detail::roc_auc_impl, bit for bit (the same exact
// integer count Σ_positives #(neg < p) + #(neg <= p), ties included, divided once). Throws
// packd::Error with the CPU's messages, naming `fn`: a non-finite score or a label other than 0/1
// (the first by index), only one class present, n outside [1, 2^32).
template <class S, class L>
double roc_auc(const S* scores, const L* labels, int64_t n, int device, const char* fn);

}  // namespace packd::cuda
