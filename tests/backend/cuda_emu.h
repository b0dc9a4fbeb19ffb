// A CPU stand-in for the CUDA execution model, enough to run csrc/cuda/*.cu on a machine
// without a GPU (tests only; see tests/backend/cuda_fake.py). Force-included before each .cu
// compiled as C++20 with g++.
//
// Model: a launch runs its blocks one after another; each block's threads are real std::threads
// (blockDim of them, from a pool reused across launches, each looping over the blocks). Because one block
// runs at a time, __shared__ can be `static` storage. __syncthreads is a block-wide barrier,
// __shfl_down_sync a warp-wide exchange (two warp barriers); every thread of a block ends each
// block at a barrier so shared memory is never reused early. Divergent barriers (a bug on a real
// GPU too) deadlock here; the Python side runs launches with a timeout.
#pragma once

#include <barrier>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};

namespace fg_emu {
inline thread_local dim3 tl_thread, tl_block;
inline dim3 g_block_dim, g_grid_dim;
inline std::barrier<>* g_block_barrier = nullptr;
inline std::vector<std::unique_ptr<std::barrier<>>> g_warp_barriers;
inline unsigned char g_exchange[1024][8];

inline unsigned linear_tid() {
  return tl_thread.x + tl_thread.y * g_block_dim.x + tl_thread.z * g_block_dim.x * g_block_dim.y;
}

// Worker threads are created once and reused by every launch (creating blockDim threads per
// launch dominated the run time).
struct Pool {
  std::mutex m;
  std::condition_variable start, done;
  std::vector<std::thread> threads;
  unsigned long long generation = 0;
  unsigned active = 0, remaining = 0;
  std::function<void(unsigned)> job;

  void worker(unsigned id) {
    unsigned long long seen = 0;
    for (;;) {
      std::function<void(unsigned)> j;
      {
        std::unique_lock<std::mutex> l(m);
        start.wait(l, [&] { return generation != seen; });
        seen = generation;
        if (id >= active) continue;
        j = job;
      }
      j(id);
      std::lock_guard<std::mutex> l(m);
      if (--remaining == 0) done.notify_all();
    }
  }

  void run(unsigned n, std::function<void(unsigned)> f) {
    while (threads.size() < n) {
      const unsigned id = static_cast<unsigned>(threads.size());
      threads.emplace_back([this, id] { worker(id); });
    }
    {
      std::lock_guard<std::mutex> l(m);
      job = std::move(f);
      active = n;
      remaining = n;
      ++generation;
    }
    start.notify_all();
    std::unique_lock<std::mutex> l(m);
    done.wait(l, [&] { return remaining == 0; });
  }
};

inline Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: its threads live until the process exits
  return *p;
}

template <class Body>
void launch(dim3 grid, dim3 block, Body body) {
  const unsigned n = block.x * block.y * block.z;
  g_grid_dim = grid;
  g_block_dim = block;
  std::barrier<> block_barrier(static_cast<std::ptrdiff_t>(n));
  g_block_barrier = &block_barrier;
  g_warp_barriers.clear();
  for (unsigned w = 0; w < (n + 31) / 32; ++w) {
    const unsigned size = n - w * 32 < 32 ? n - w * 32 : 32;
    g_warp_barriers.push_back(std::make_unique<std::barrier<>>(static_cast<std::ptrdiff_t>(size)));
  }
  const unsigned long long blocks = 1ull * grid.x * grid.y * grid.z;
  pool().run(n, [&](unsigned t) {
    tl_thread = dim3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
    for (unsigned long long b = 0; b < blocks; ++b) {
      tl_block = dim3{static_cast<unsigned>(b % grid.x),
                      static_cast<unsigned>((b / grid.x) % grid.y),
                      static_cast<unsigned>(b / (1ull * grid.x * grid.y))};
      body();
      block_barrier.arrive_and_wait();
    }
  });
  g_block_barrier = nullptr;
}
}  // namespace fg_emu

#define threadIdx (fg_emu::tl_thread)
#define blockIdx (fg_emu::tl_block)
#define blockDim (fg_emu::g_block_dim)
#define gridDim (fg_emu::g_grid_dim)
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

inline void __syncthreads() { fg_emu::g_block_barrier->arrive_and_wait(); }

template <class T>
T __shfl_down_sync(unsigned /*mask*/, T v, int offset) {
  static_assert(sizeof(T) <= 8, "8-byte exchange slots");
  const unsigned tid = fg_emu::linear_tid();
  const unsigned lane = tid & 31u, warp = tid >> 5;
  std::memcpy(fg_emu::g_exchange[tid], &v, sizeof(T));
  fg_emu::g_warp_barriers[warp]->arrive_and_wait();
  T r = v;
  if (lane + static_cast<unsigned>(offset) < 32u && tid + offset < 1024u)
    std::memcpy(&r, fg_emu::g_exchange[tid + offset], sizeof(T));
  fg_emu::g_warp_barriers[warp]->arrive_and_wait();
  return r;
}
