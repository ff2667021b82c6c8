#pragma once
// The one thread pool of the CPU backend: every parallel kernel (GEMM, convolution, elementwise,
// reductions, norms, pooling, shape ops, ...) runs on it; none opens an OpenMP parallel region.
//
// Why not OpenMP: a model's forward alternates kernels (conv -> bn -> relu -> add -> conv), and
// with two thread teams the one that just finished keeps spinning (libgomp: GOMP_SPINCOUNT) on the
// cores the other needs next; entering and leaving a region are also rendezvous of the whole team,
// waited for by spinning on a thread the OS may have descheduled. On a 2-core machine with one
// core busy elsewhere that made a WideResNet50-2 block 4-5x slower. Here nobody waits for a thread
// to show up: the caller is thread 0 and starts at once, workers join while the job is open and
// claim work dynamically, so a worker that joins late (or never) only means fewer helpers.
// Consequently no kernel may partition work by thread id: parallel_for / pool_for hand out
// chunks from a counter, and a chunk body may run on any thread.
//
//   max_threads()                    threads to use: omp_get_max_threads(), so OMP_NUM_THREADS and
//                                    omp_set_num_threads() keep working (reading it starts no team)
//   in_parallel()                    inside a pool job or a caller's OpenMP region: nest serially
//   pool_for(n, nt, f(i))            f for every i in [0, n), indices claimed one at a time
//   parallel_for(b, e, nt, f(a, b))  f over chunks [a, b) of [b, e), ~8 chunks per thread;
//                                    f(a, b, tid) gets the claiming thread's id in [0, nt) too
//
// One job at a time: a second caller (another user thread, or a kernel nested in a job) finds the
// pool busy and runs its loop alone.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>

namespace packd::cpu {

namespace detail {

// A pause in a spin loop (lets the sibling hyperthread run).
inline void cpu_relax() {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  __builtin_ia32_pause();
#endif
}

// Count one unit done; the unit that completes `target` wakes the sleepers.
inline void count_done(std::atomic<int32_t>& c, int32_t target) {
  if (c.fetch_add(1, std::memory_order_acq_rel) + 1 == target) c.notify_all();
}

// Wait until c >= target (acquire). Spin a few microseconds (the usual case: a team mate finishing
// a chunk or an item), then sleep in the kernel so that a descheduled team mate can have the core.
inline void wait_for_count(const std::atomic<int32_t>& c, int32_t target) {
  for (int i = 0; i < 1024; ++i) {  // ~25 us on the Zen 5 EPYC
    if (c.load(std::memory_order_acquire) >= target) return;
    cpu_relax();
  }
  for (int32_t v = c.load(std::memory_order_acquire); v < target; v = c.load(std::memory_order_acquire))
    c.wait(v, std::memory_order_acquire);
}

// True on a thread while it runs a pool job's body.
inline bool& in_pool_job() {
  thread_local bool flag = false;
  return flag;
}

// A small pool of persistent std::threads. run(P, body) calls body(0) on the caller and body(tid)
// for tids 1.. up to P-1 on the workers that take a ticket while the job is open; it returns once
// the caller's body is done and every worker that took a ticket has finished, so the body must
// share its work dynamically. Idle workers spin briefly, then sleep on a futex (std::atomic::wait).
class WorkerPool {
 public:
  static WorkerPool& instance() {
    static WorkerPool* pool = new WorkerPool;  // never destroyed: workers sleep through process exit
    return *pool;
  }

  // false (nothing run) if the pool is busy with another job or the caller is inside a job.
  // An exception from a body is rethrown here, after every joined worker has finished.
  template <class Body>
  bool run(int P, Body& body) {
    if (in_pool_job()) return false;  // nested: the mutex is ours (re-locking it is undefined)
    std::unique_lock<std::mutex> lock(mtx_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    for (; workers_ < P - 1; ++workers_) std::thread([this] { worker_loop(); }).detach();
    const uint32_t g = gen_.load(std::memory_order_relaxed) + 1;
    fn_ = [](void* ctx, int tid) { (*static_cast<Body*>(ctx))(tid); };
    ctx_ = &body;
    error_ = nullptr;
    done_.store(0, std::memory_order_relaxed);
    size_.store(P, std::memory_order_relaxed);
    tickets_.store(uint64_t(g) << 32 | 1, std::memory_order_release);  // next tid 1, up to P-1
    gen_.store(g, std::memory_order_release);
    gen_.notify_all();
    std::exception_ptr caller_error;
    in_pool_job() = true;
    try {
      body(0);
    } catch (...) {
      caller_error = std::current_exception();
    }
    in_pool_job() = false;
    // Close the job; wait for the workers that took a ticket (they still use body).
    uint64_t w = tickets_.load(std::memory_order_acquire);
    while (!tickets_.compare_exchange_weak(w, uint64_t(g) << 32 | uint32_t(P), std::memory_order_acq_rel)) {
    }
    const auto joined = static_cast<int32_t>(std::min<uint32_t>(static_cast<uint32_t>(w), uint32_t(P)) - 1);
    wait_for_count(done_, joined);
    if (caller_error) std::rethrow_exception(caller_error);
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  WorkerPool() = default;

  void worker_loop() {
    in_pool_job() = true;  // a worker only ever runs job bodies: kernels nested in them run serially
    uint32_t seen = gen_.load(std::memory_order_acquire);
    for (;;) {
      for (int i = 0; i < 2048 && gen_.load(std::memory_order_acquire) == seen; ++i) cpu_relax();
      gen_.wait(seen, std::memory_order_acquire);
      seen = gen_.load(std::memory_order_acquire);
      // Take a ticket of job `seen`, unless it is closed or a newer job has replaced it.
      uint64_t w = tickets_.load(std::memory_order_acquire);
      while (static_cast<uint32_t>(w >> 32) == seen &&
             static_cast<int>(static_cast<uint32_t>(w)) < size_.load(std::memory_order_relaxed)) {
        if (tickets_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel)) {
          try {
            fn_(ctx_, static_cast<int>(static_cast<uint32_t>(w)));
          } catch (...) {
            std::lock_guard<std::mutex> g(error_mtx_);
            if (!error_) error_ = std::current_exception();
          }
          done_.fetch_add(1, std::memory_order_acq_rel);
          done_.notify_all();
          break;
        }
      }
    }
  }

  std::mutex mtx_;  // held by the caller for the whole job
  int workers_ = 0;
  alignas(64) std::atomic<uint32_t> gen_{0};      // job generation: bumped to wake the workers
  alignas(64) std::atomic<uint64_t> tickets_{0};  // generation << 32 | next tid to hand out
  std::atomic<int> size_{0};                      // tids of the current job: 0 .. size_-1
  alignas(64) std::atomic<int32_t> done_{0};      // workers of the current job that finished
  void (*fn_)(void*, int) = nullptr;              // the job; written only while no worker runs one
  void* ctx_ = nullptr;
  std::mutex error_mtx_;
  std::exception_ptr error_;  // the first exception a worker's body threw in the current job
};

}  // namespace detail

// Threads the kernels may use (1 when OpenMP is off).
inline int max_threads() {
#ifdef _OPENMP
  return std::max(1, omp_get_max_threads());
#else
  return 1;
#endif
}

// Whether this thread already runs parallel work (a pool job, or a caller's own OpenMP region):
// kernels called from there run serially rather than oversubscribe the cores.
inline bool in_parallel() {
#ifdef _OPENMP
  if (omp_in_parallel()) return true;
#endif
  return detail::in_pool_job();
}

// Run f(i) for every i in [0, n): the caller and up to nthreads-1 workers claim the indices one at
// a time from a counter. For a few large items (GEMMs, channels, images).
template <class F>
void pool_for(int64_t n, int nthreads, F&& f) {
  std::atomic<int64_t> next{0};
  auto body = [&](int) {
    for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) f(i);
  };
  if (nthreads > 1 && n > 1 && detail::WorkerPool::instance().run(nthreads, body)) return;
  body(0);
}

// Run f(a, b) (or f(a, b, tid)) over chunks [a, b) that cover [begin, end): the caller and up to
// nthreads-1 workers claim chunks of about (end-begin)/(8 nthreads) from a counter, so a thread the
// OS preempts holds up at most one chunk. tid (< nthreads) identifies the claiming thread for
// per-thread scratch; which chunks a tid gets is not fixed. nthreads <= 1: one call f(begin, end).
template <class F>
void parallel_for(int64_t begin, int64_t end, int nthreads, F&& f) {
  auto call = [&](int64_t a, int64_t b, int tid) {
    if constexpr (std::is_invocable_v<F&, int64_t, int64_t, int>) f(a, b, tid);
    else f(a, b);
  };
  const int64_t n = end - begin;
  if (n <= 0) return;
  const int nt = static_cast<int>(std::min<int64_t>(std::max(nthreads, 1), n));
  if (nt <= 1) return call(begin, end, 0);
  const int64_t chunk = std::max<int64_t>(1, n / (int64_t(nt) * 8));
  std::atomic<int64_t> next{begin};
  auto body = [&](int tid) {
    for (int64_t a; (a = next.fetch_add(chunk, std::memory_order_relaxed)) < end;) call(a, std::min(end, a + chunk), tid);
  };
  if (detail::WorkerPool::instance().run(nt, body)) return;
  call(begin, end, 0);  // the pool is busy: alone, in one piece
}

namespace detail {
using cpu::pool_for;  // conv.hpp and the tests call it as detail::pool_for (where it lived before)
}  // namespace detail

}  // namespace packd::cpu
