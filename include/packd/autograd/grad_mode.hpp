#pragma once
// Grad mode: whether ops record the autograd graph on this thread.
// NoGradGuard turns recording off for a scope (inference, the frozen teacher, optimiser updates);
// EnableGradGuard turns it back on inside such a scope.

namespace packd {

namespace detail {
inline thread_local bool grad_enabled = true;
}

inline bool is_grad_enabled() { return detail::grad_enabled; }
inline void set_grad_enabled(bool on) { detail::grad_enabled = on; }

class GradModeGuard {
 public:
  explicit GradModeGuard(bool on) : prev_(detail::grad_enabled) { detail::grad_enabled = on; }
  ~GradModeGuard() { detail::grad_enabled = prev_; }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool prev_;
};

struct NoGradGuard : GradModeGuard {
  NoGradGuard() : GradModeGuard(false) {}
};
struct EnableGradGuard : GradModeGuard {
  EnableGradGuard() : GradModeGuard(true) {}
};

}  // namespace packd
