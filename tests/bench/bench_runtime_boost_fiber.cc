// bench_runtime's peer for spawn: Boost.Fiber, measured in the same run.
//
// What one iteration does, so the comparison is like with like:
//   create  a boost::fibers::fiber running an empty lambda, its stack from
//           a pooled_fixedsize_stack (boost::pool: a warm free list, no
//           guard page) of the same usable size as corio's default stack
//           (256 KiB), launch::post (queued, like corio_spawn: the child
//           runs when its parent waits);
//   resume  join(): the parent suspends, the scheduler (round_robin, the
//           default) runs the child to its end and wakes the parent;
//   destroy the fiber object goes out of scope and its stack returns to
//           the pool.
// No result travels back: a Boost.Fiber fiber has no future. corio_spawn
// also creates a future (refcounted, awaitable from any thread, carries a
// result or a failure) and corio_future_result reads it.
//
// A second, lower peer: boost::context::fiber (Boost.Context's callcc-style
// fiber, what Boost.Fiber is built on) from its own pooled_fixedsize_stack:
// create, resume once (it runs to its end and hands control straight
// back), destroy. No scheduler, no run queue, no join, no future: the bare
// cost of a pooled stack plus two switches.
//
// Called from bench_runtime.c through C functions. Built only when
// meson finds Boost.Fiber (tests/bench/meson.build).
#include <boost/context/fiber.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>
#include <boost/fiber/all.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

namespace bf = boost::fibers;

static double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

extern "C" void bench_boost_fiber_spawn(std::size_t n, std::size_t stack_size, int runs,
                                        double *serial_ns, double *batched_ns) {
    bf::pooled_fixedsize_stack salloc(stack_size);
    double best_serial = 1e30, best_batched = 1e30;
    constexpr std::size_t B = 1000;
    std::vector<bf::fiber> batch;
    batch.reserve(B);
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        for (std::size_t i = 0; i < n; i++) {
            bf::fiber f(bf::launch::post, std::allocator_arg, salloc, [] {});
            f.join();
        }
        double ns = (now_s() - t0) / (double)n * 1e9;
        if (ns < best_serial)
            best_serial = ns;
        std::size_t nb = n / B * B;
        t0 = now_s();
        for (std::size_t i = 0; i < nb; i += B) {
            for (std::size_t j = 0; j < B; j++)
                batch.emplace_back(bf::launch::post, std::allocator_arg, salloc, [] {});
            for (auto &f : batch)
                f.join();
            batch.clear();
        }
        ns = (now_s() - t0) / (double)nb * 1e9;
        if (ns < best_batched)
            best_batched = ns;
    }
    *serial_ns = best_serial;
    *batched_ns = best_batched;
}

extern "C" void bench_boost_context_fiber_spawn(std::size_t n, std::size_t stack_size, int runs,
                                                double *serial_ns, double *batched_ns) {
    namespace bc = boost::context;
    bc::pooled_fixedsize_stack salloc(stack_size);
    double best_serial = 1e30, best_batched = 1e30;
    constexpr std::size_t B = 1000;
    std::vector<bc::fiber> batch;
    batch.reserve(B);
    auto body = [](bc::fiber &&caller) { return std::move(caller); };
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        for (std::size_t i = 0; i < n; i++) {
            bc::fiber f(std::allocator_arg, salloc, body);
            f = std::move(f).resume();
        }
        double ns = (now_s() - t0) / (double)n * 1e9;
        if (ns < best_serial)
            best_serial = ns;
        std::size_t nb = n / B * B;
        t0 = now_s();
        for (std::size_t i = 0; i < nb; i += B) {
            for (std::size_t j = 0; j < B; j++)
                batch.emplace_back(std::allocator_arg, salloc, body);
            for (auto &f : batch)
                f = std::move(f).resume();
            batch.clear();
        }
        ns = (now_s() - t0) / (double)nb * 1e9;
        if (ns < best_batched)
            best_batched = ns;
    }
    *serial_ns = best_serial;
    *batched_ns = best_batched;
}
