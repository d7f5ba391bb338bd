// The emu launcher: runs a kernel's grid on the host, block after block, each CUDA thread of
// the block on one host thread of a reusable pool (grown to the largest block seen, never one
// thread per CUDA thread per block). __syncthreads() is a barrier over the block; shuffles use a
// per-warp barrier and exchange array (the MCUDA / HIP-CPU technique).
//
// Kernels register themselves by name (RECAUX_KERNEL in common.cuh) with their params size;
// Rust calls `recaux_emu_launch(name, grid, block, shared_bytes, params, size, err, errlen)`.
// Launches are serialised by one mutex: `__shared__` arrays are statics, so two launches of the
// same kernel must not overlap. Everything synchronises through std::mutex/condition_variable,
// which ThreadSanitizer understands, so a report under TSan is a race in a kernel.
#pragma once

#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "shim.h"

namespace recaux_emu {

using KernelFn = void (*)(const void*);

struct Entry {
    const char* name;
    KernelFn fn;
    size_t params_size;
};

inline std::vector<Entry>& registry() {
    static std::vector<Entry> r;
    return r;
}

struct Registrar {
    Registrar(const char* name, KernelFn fn, size_t params_size) {
        registry().push_back(Entry{name, fn, params_size});
    }
};

// A reusable barrier for a fixed number of threads (set before the threads use it).
class Barrier {
   public:
    void reset(unsigned count) {
        std::lock_guard<std::mutex> l(m_);
        count_ = count;
        waiting_ = 0;
    }
    void wait() {
        std::unique_lock<std::mutex> l(m_);
        unsigned long gen = gen_;
        if (++waiting_ == count_) {
            waiting_ = 0;
            ++gen_;
            cv_.notify_all();
        } else {
            cv_.wait(l, [&] { return gen_ != gen; });
        }
    }

   private:
    std::mutex m_;
    std::condition_variable cv_;
    unsigned count_ = 0, waiting_ = 0;
    unsigned long gen_ = 0;
};

constexpr unsigned kMaxThreads = 1024;
constexpr unsigned kWarp = 32;

inline Barrier g_block_barrier;
inline Barrier g_warp_barrier[kMaxThreads / kWarp];
inline uint64_t g_exchange[kMaxThreads / kWarp][kWarp];
inline unsigned g_nthreads = 0;
inline thread_local unsigned t_linear = 0;

inline void sync_block() { g_block_barrier.wait(); }
inline unsigned lane_id() { return t_linear % kWarp; }

inline uint64_t warp_exchange(uint64_t bits, int src) {
    unsigned w = t_linear / kWarp;
    unsigned lanes = g_nthreads - w * kWarp;
    if (lanes > kWarp) lanes = kWarp;
    g_exchange[w][t_linear % kWarp] = bits;
    g_warp_barrier[w].wait();
    uint64_t out = bits;
    if (src >= 0 && (unsigned)src < lanes) out = g_exchange[w][src];
    // Nobody may overwrite the exchange slots before every lane has read.
    g_warp_barrier[w].wait();
    return out;
}

struct Job {
    KernelFn fn = nullptr;
    const void* params = nullptr;
    dim3 grid, block;
    unsigned nthreads = 0;
};

class Pool {
   public:
    ~Pool() {
        {
            std::lock_guard<std::mutex> l(m_);
            quit_ = true;
        }
        start_.notify_all();
        for (auto& t : threads_) t.join();
    }

    // Runs the whole grid; returns when every block has finished.
    void run(const Job& job) {
        while (threads_.size() < job.nthreads) {
            unsigned tid = (unsigned)threads_.size();
            // The new thread waits for the generation after the current one: this launch.
            unsigned long current = gen_;
            threads_.emplace_back([this, tid, current] { worker(tid, current); });
        }
        std::unique_lock<std::mutex> l(m_);
        job_ = job;
        done_ = 0;
        ++gen_;
        start_.notify_all();
        done_cv_.wait(l, [&] { return done_ == job_.nthreads; });
    }

   private:
    void worker(unsigned tid, unsigned long seen) {
        for (;;) {
            Job job;
            {
                std::unique_lock<std::mutex> l(m_);
                start_.wait(l, [&] { return quit_ || gen_ != seen; });
                if (quit_) return;
                seen = gen_;
                job = job_;
            }
            if (tid >= job.nthreads) continue;
            run_blocks(job, tid);
            std::lock_guard<std::mutex> l(m_);
            if (++done_ == job.nthreads) done_cv_.notify_one();
        }
    }

    static void run_blocks(const Job& job, unsigned tid) {
        const dim3 b = job.block, g = job.grid;
        t_linear = tid;
        t_thread_idx = uint3{tid % b.x, (tid / b.x) % b.y, tid / (b.x * b.y)};
        for (unsigned z = 0; z < g.z; ++z)
            for (unsigned y = 0; y < g.y; ++y)
                for (unsigned x = 0; x < g.x; ++x) {
                    t_block_idx = uint3{x, y, z};
                    job.fn(job.params);
                    // The next block reuses the statics standing in for shared memory.
                    g_block_barrier.wait();
                }
    }

    std::mutex m_;
    std::condition_variable start_, done_cv_;
    std::vector<std::thread> threads_;
    Job job_;
    unsigned long gen_ = 0;
    unsigned done_ = 0;
    bool quit_ = false;
};

inline std::mutex g_launch_mutex;

inline void set_err(char* err, size_t errlen, const char* msg, const char* name) {
    if (err && errlen) std::snprintf(err, errlen, "%s: %s", name, msg);
}

}  // namespace recaux_emu

extern "C" {

// Number of registered kernels and their names (for tests and `recaux info`).
size_t recaux_emu_kernel_count() { return recaux_emu::registry().size(); }
const char* recaux_emu_kernel_name(size_t i) {
    auto& r = recaux_emu::registry();
    return i < r.size() ? r[i].name : nullptr;
}
// The params size a kernel was compiled with, 0 when unknown.
size_t recaux_emu_params_size(const char* name) {
    for (auto& e : recaux_emu::registry())
        if (std::strcmp(e.name, name) == 0) return e.params_size;
    return 0;
}

// Launches kernel `name` and waits for it. Returns 0, or 1 with a message in `err`.
int recaux_emu_launch(const char* name, const unsigned* grid, const unsigned* block,
                      unsigned shared_bytes, const void* params, size_t params_size, char* err,
                      size_t errlen) {
    using namespace recaux_emu;
    const Entry* e = nullptr;
    for (auto& r : registry())
        if (std::strcmp(r.name, name) == 0) e = &r;
    if (!e) {
        set_err(err, errlen, "no such kernel in the emu library", name);
        return 1;
    }
    if (e->params_size != params_size) {
        char msg[160];
        std::snprintf(msg, sizeof msg, "params struct is %zu bytes in Rust but %zu in the kernel",
                      params_size, e->params_size);
        set_err(err, errlen, msg, name);
        return 1;
    }
    unsigned long long nthreads = (unsigned long long)block[0] * block[1] * block[2];
    if (nthreads == 0 || nthreads > kMaxThreads || grid[0] == 0 || grid[1] == 0 ||
        grid[2] == 0) {
        set_err(err, errlen, "invalid launch configuration (empty grid or block > 1024)", name);
        return 1;
    }
    std::lock_guard<std::mutex> launch_lock(g_launch_mutex);
    static Pool pool;
    // 16-byte aligned dynamic shared memory, like CUDA's.
    std::unique_ptr<long double[]> dyn(
        shared_bytes ? new long double[(shared_bytes + sizeof(long double) - 1) /
                                       sizeof(long double)]()
                     : nullptr);
    g_dyn_shared = reinterpret_cast<unsigned char*>(dyn.get());
    g_block_dim = dim3{block[0], block[1], block[2]};
    g_grid_dim = dim3{grid[0], grid[1], grid[2]};
    g_nthreads = (unsigned)nthreads;
    g_block_barrier.reset((unsigned)nthreads);
    for (unsigned w = 0; w * kWarp < nthreads; ++w) {
        unsigned lanes = (unsigned)nthreads - w * kWarp;
        g_warp_barrier[w].reset(lanes < kWarp ? lanes : kWarp);
    }
    Job job;
    job.fn = e->fn;
    job.params = params;
    job.grid = g_grid_dim;
    job.block = g_block_dim;
    job.nthreads = (unsigned)nthreads;
    pool.run(job);
    g_dyn_shared = nullptr;
    return 0;
}
}
