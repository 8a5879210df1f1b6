/* qcomp CUDA emulation: compile generated kernels (model.cu) for the host with g++.
 *
 * The CUDA execution model, as far as qcomp's kernels use it:
 * - threadIdx, blockIdx, blockDim, gridDim: globals set by the launcher before a thread runs.
 * - blocks run one after another; within a block, kernels without barriers run thread by thread
 *   in a plain loop; kernels with __syncthreads run each CUDA thread as a fiber (ucontext) and
 *   __syncthreads switches back to the block scheduler, which resumes every thread in turn:
 *   round k ends when all threads of the block reached barrier k, so a barrier holds exactly as
 *   on a GPU (for uniform barriers, the only kind CUDA allows).
 * - __shared__ is a static local: one copy, shared by the threads of the running block.
 * - __dp4a(a, b, c) = c + sum of the 4 signed byte products (PTX dp4a.s32.s32).
 * - __clz(x) = the leading zero bits of the 32-bit x (PTX clz.b32; 32 for x = 0).
 * - __fdiv_rn / __fmul_rn / __int2float_rn / __ll2float_rn: IEEE float32 operations, round to nearest even
 *   (compile with -ffp-contract=off so that nothing is fused).
 * Deterministic and single-threaded: results equal a GPU's for race-free kernels.
 */
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>
#include <ucontext.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static
#define __launch_bounds__(...)

struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

/* external linkage: the compiler must reload them after every call (a fiber switch) */
inline uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

static inline int __dp4a(int a, int b, int c) {
    for (int i = 0; i < 4; ++i)
        c += (int)(int8_t)(a >> (8 * i)) * (int)(int8_t)(b >> (8 * i));
    return c;
}
static inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __int2float_rn(int a) { return (float)a; }
static inline float __ll2float_rn(long long a) { return (float)a; }

namespace qcomp_emu {
constexpr size_t kStack = 64 * 1024;
inline ucontext_t scheduler;
inline std::vector<ucontext_t> contexts;
inline std::vector<char> stacks;
inline std::vector<unsigned char> finished;
inline unsigned current = 0;
inline bool in_fiber = false;
inline void (*body)(void*) = nullptr;
inline void* body_arg = nullptr;

inline void set_thread(unsigned t) {
    threadIdx.x = t % blockDim.x;
    threadIdx.y = (t / blockDim.x) % blockDim.y;
    threadIdx.z = t / (blockDim.x * blockDim.y);
}

inline void trampoline() {
    body(body_arg);
    finished[current] = 1;
    swapcontext(&contexts[current], &scheduler);
}

inline void run_block_fibers(unsigned n) {
    if (contexts.size() < n) { contexts.resize(n); stacks.resize(n * kStack); }
    finished.assign(n, 0);
    for (unsigned t = 0; t < n; ++t) {
        getcontext(&contexts[t]);
        contexts[t].uc_stack.ss_sp = stacks.data() + t * kStack;
        contexts[t].uc_stack.ss_size = kStack;
        contexts[t].uc_link = &scheduler;
        makecontext(&contexts[t], trampoline, 0);
    }
    unsigned remaining = n;
    in_fiber = true;
    while (remaining) {
        for (unsigned t = 0; t < n; ++t) {
            if (finished[t]) continue;
            current = t;
            set_thread(t);
            swapcontext(&scheduler, &contexts[t]);
            if (finished[t]) --remaining;
        }
    }
    in_fiber = false;
}

template <class F> void thunk(void* f) { (*static_cast<F*>(f))(); }

/* Run body() as the kernel <<<grid, block>>>. */
template <class F> void launch(dim3 grid, dim3 block, bool barriers, F&& f) {
    gridDim = grid;
    blockDim = block;
    body = &thunk<std::remove_reference_t<F>>;
    body_arg = (void*)&f;
    unsigned n = block.x * block.y * block.z;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                blockIdx = {bx, by, bz};
                if (barriers) {
                    run_block_fibers(n);
                } else {
                    for (unsigned t = 0; t < n; ++t) { set_thread(t); f(); }
                }
            }
}
}  // namespace qcomp_emu

static inline void __syncthreads() {
    if (!qcomp_emu::in_fiber) abort();   /* a barrier in a kernel launched without fibers: a codegen bug */
    swapcontext(&qcomp_emu::contexts[qcomp_emu::current], &qcomp_emu::scheduler);
}

/* mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32, a warp-collective: D = A (16x32 s8, row) x
 * B (32x8 s8, col) + C (16x8 s32). Fragments of lane l (gid = l / 4, tig = l % 4), PTX ISA:
 *   a[0] = A[gid][tig*4 .. +3]   a[1] = A[gid+8][tig*4 ..]   a[2] = A[gid][16+tig*4 ..]   a[3] = A[gid+8][16+tig*4 ..]
 *   b[0] = B[tig*4 .. +3][gid]   b[1] = B[16+tig*4 ..][gid]
 *   c[0], c[1] = C[gid][tig*2], C[gid][tig*2+1]      c[2], c[3] = C[gid+8][tig*2], C[gid+8][tig*2+1]
 * Emulated with the block's fibers: every lane deposits its fragments, a barrier, every lane computes
 * its own D from its warp's deposits, a barrier (so no lane overwrites a deposit still being read).
 * Like every barrier here, it must be reached by all threads of the block (qcomp's kernels do). */
namespace qcomp_emu {
struct MmaLane { unsigned a[4]; unsigned b[2]; };
inline MmaLane mma_lanes[1024];

inline int byte_of(unsigned word, int k) { return (int)(int8_t)(word >> (8 * (k & 3))); }
}  // namespace qcomp_emu

static inline void qcomp_emu_mma_m16n8k32_s8(int d[4], const unsigned a[4], const unsigned b[2]) {
    using namespace qcomp_emu;
    const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    for (int i = 0; i < 4; ++i) mma_lanes[t].a[i] = a[i];
    for (int i = 0; i < 2; ++i) mma_lanes[t].b[i] = b[i];
    __syncthreads();
    const unsigned base = t & ~31u, lane = t & 31u, gid = lane >> 2, tig = lane & 3;
    int out[4];
    for (int i = 0; i < 4; ++i) {
        const unsigned row = gid + (i >= 2 ? 8 : 0), col = tig * 2 + (i & 1);
        int acc = d[i];
        for (int k = 0; k < 32; ++k) {
            const MmaLane& la = mma_lanes[base + (row % 8) * 4 + (k % 16) / 4];
            const MmaLane& lb = mma_lanes[base + col * 4 + (k % 16) / 4];
            acc += byte_of(la.a[(row >= 8) + 2 * (k >= 16)], k) * byte_of(lb.b[k >= 16], k);
        }
        out[i] = acc;
    }
    __syncthreads();
    for (int i = 0; i < 4; ++i) d[i] = out[i];
}

static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
