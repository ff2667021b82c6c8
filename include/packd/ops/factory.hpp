#pragma once
// Factories: new tensors filled with constants, ranges, random numbers, or existing data.
// Random factories draw from an explicit Generator, filling elements in row-major order, so a
// given seed gives the same tensor on every machine.
#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

#include "packd/core/generator.hpp"
#include "packd/ops/view.hpp"

namespace packd {

template <Scalar T>
Tensor<T> empty(const Shape& shape, Device device = Device::cpu()) {
  return Tensor<T>::empty(shape, device);
}

template <Scalar T>
Tensor<T> full(const Shape& shape, T value, Device device) {
  Tensor<T> t = Tensor<T>::empty(shape, device);
  t.fill_(value);
  return t;
}
template <Scalar T>
Tensor<T> full(const Shape& shape, T value) {
  return full<T>(shape, value, Device::cpu());
}
template <Scalar T>
Tensor<T> zeros(const Shape& shape, Device device) {
  return full<T>(shape, T(0), device);
}
template <Scalar T>
Tensor<T> zeros(const Shape& shape) {
  return zeros<T>(shape, Device::cpu());
}
template <Scalar T>
Tensor<T> ones(const Shape& shape, Device device) {
  return full<T>(shape, T(1), device);
}
template <Scalar T>
Tensor<T> ones(const Shape& shape) {
  return ones<T>(shape, Device::cpu());
}
template <Scalar T>
Tensor<T> zeros_like(const Tensor<T>& t) {
  return zeros<T>(t.shape(), t.device());
}
template <Scalar T>
Tensor<T> ones_like(const Tensor<T>& t) {
  return ones<T>(t.shape(), t.device());
}
template <Scalar T>
Tensor<T> full_like(const Tensor<T>& t, T value) {
  return full<T>(t.shape(), value, t.device());
}
// A 0-dimensional tensor holding one value.
template <Scalar T>
Tensor<T> scalar_tensor(T value, Device device = Device::cpu()) {
  return full<T>(Shape{}, value, device);
}

// Copies host data into a new tensor of the given shape.
template <Scalar T>
Tensor<T> from_vector(const std::vector<T>& values, const Shape& shape, Device device = Device::cpu()) {
  PACKD_CHECK(int64_t(values.size()) == shape.numel(), "from_vector: ", values.size(), " values for shape ", shape,
              " (", shape.numel(), " elements)");
  Tensor<T> t = Tensor<T>::empty(shape, Device::cpu());
  if (!values.empty()) std::memcpy(t.data(), values.data(), values.size() * sizeof(T));
  return t.to(device);
}
// A 1-D tensor of the values.
template <Scalar T>
Tensor<T> from_vector(const std::vector<T>& values) {
  Shape shape;  // (built by push_back: a braced temporary trips GCC 12's -Wmaybe-uninitialized here)
  shape.push_back(int64_t(values.size()));
  return from_vector(values, shape);
}

// Wraps host memory owned by the caller, without copying. The caller keeps `data` alive until the
// last view is gone, or passes a deleter that frees it then. Strides default to contiguous.
template <Scalar T>
Tensor<T> from_buffer(T* data, const Shape& shape, std::function<void(void*)> deleter = {}, Shape strides = {}) {
  if (strides.size() == 0 && shape.size() > 0) strides = contiguous_strides(shape);
  int64_t extent = 1;
  for (int i = 0; i < shape.size(); ++i) extent += (shape[i] - 1) * std::max<int64_t>(strides[i], 0);
  auto storage = std::make_shared<Storage>(static_cast<void*>(data), std::size_t(std::max<int64_t>(extent, 0)) * sizeof(T),
                                           Device::cpu(), std::move(deleter));
  return Tensor<T>::from_storage(std::move(storage), shape, strides, 0);
}

// An uninitialised host tensor in page-locked memory (cudaMallocHost), for host buffers copied to a
// GPU (the trainer's batches): the copy is a direct DMA instead of a staged one. Ordinary host
// memory where there is no CUDA device (or no CUDA backend), so the same code runs everywhere.
template <Scalar T>
Tensor<T> empty_pinned(const Shape& shape) {
#if PACKD_WITH_CUDA
  if (cuda::cuda_available()) {
    void* p = cuda::pinned_allocate(std::size_t(shape.numel()) * sizeof(T));
    return from_buffer<T>(static_cast<T*>(p), shape, [](void* q) { cuda::pinned_deallocate(q); });
  }
#endif
  return Tensor<T>::empty(shape);
}

// [start, end) in steps of `step`, as torch.arange: ceil((end - start) / step) elements.
template <Scalar T>
Tensor<T> arange(T start, T end, T step = T(1), Device device = Device::cpu()) {
  PACKD_CHECK(step != T(0), "arange: step must be non-zero");
  PACKD_CHECK((end - start) / step >= 0 || start == end, "arange: the range from ", start, " to ", end,
              " is empty in the direction of step ", step);
  const int64_t n = std::max<int64_t>(0, int64_t(std::ceil(double(end - start) / double(step))));
  Tensor<T> t = Tensor<T>::empty({n});
  for (int64_t i = 0; i < n; ++i) t.data()[i] = T(start + T(i) * step);
  return t.to(device);
}
template <Scalar T>
Tensor<T> arange(T end) {
  return arange<T>(T(0), end);
}

// Uniform in [low, high).
template <FloatScalar T>
Tensor<T> rand(const Shape& shape, Generator& gen, T low = T(0), T high = T(1), Device device = Device::cpu()) {
  Tensor<T> t = Tensor<T>::empty(shape);
  T* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = T(low + (high - low) * gen.uniform());
  return t.to(device);
}
// Normal with the given mean and standard deviation.
template <FloatScalar T>
Tensor<T> randn(const Shape& shape, Generator& gen, T mean = T(0), T stddev = T(1), Device device = Device::cpu()) {
  Tensor<T> t = Tensor<T>::empty(shape);
  T* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = T(mean + stddev * gen.normal());
  return t.to(device);
}
// Integers uniform in [low, high).
template <Scalar T>
Tensor<T> randint(int64_t low, int64_t high, const Shape& shape, Generator& gen, Device device = Device::cpu()) {
  PACKD_CHECK(high > low, "randint: empty range [", low, ", ", high, ")");
  Tensor<T> t = Tensor<T>::empty(shape);
  T* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = T(low + int64_t(gen.below(uint64_t(high - low))));
  return t.to(device);
}

}  // namespace packd

// Completes the Tensor class (autograd methods, the other core ops) for a TU that includes only
// this header: see packd/tensor.hpp.
#include "packd/tensor.hpp"
