/* The thread pool of an llvm-backend model.so: qcomp_parallel_for and the thread-count API, and
 * qcomp_clock_ns, the clock of the per-node profiler.
 *
 *   qcomp_parallel_for(fn, ctx, n): fn(ctx, i) for every i < n, spread over the pool's threads
 *   (the calling thread works too); returns when all n calls have returned.
 *
 * The generated kernels split their outer loop (pixel tiles x output-channel chunks, depthwise
 * rows, im2col packing) into n independent jobs that write disjoint outputs, each computed the
 * same way whoever runs it: results are identical for every thread count.
 *
 * Threads: the count in effect is qcomp_set_num_threads(n) if called with n > 0, else
 * QCOMP_NUM_THREADS (read once, at the first use), else the CPUs this process may run on
 * (sched_getaffinity, sysconf as fallback). With one thread no thread is ever created. Workers
 * are created at the first parallel_for that needs them; they take jobs from an atomic counter,
 * spin for a short while after a batch (the next node follows within microseconds) and then
 * sleep on a condition variable.
 *
 * Affinity: each worker is pinned to its own CPU of the process's allowed set, skipping the CPU the
 * creating thread runs on (the caller itself is never pinned). Without it, a guest scheduler that
 * packs idle threads onto one vCPU (seen on KVM/Firecracker guests) leaves a woken worker sharing
 * the caller's CPU, and a node waits a whole time slice for the job that worker claimed: 2 threads
 * ran slower than 1. Workers are not pinned when there are more threads than allowed CPUs, or
 * when QCOMP_THREAD_AFFINITY=0 is set (a machine where other processes keep some CPUs busy).
 *
 * Concurrent qcomp_run calls (other workspaces) are safe: a
 * parallel_for that finds the pool busy runs its jobs in the calling thread. The pool is global
 * to this model.so; changing the thread count while a run is in progress is not allowed.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "qcomp.h"

#define MAX_THREADS 256
#define SPIN_NS 500000L    /* how long an idle worker spins before it sleeps: 0.5 ms */

typedef void (*job_fn)(void *ctx, int64_t i);

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;   /* guards the fields below */
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;    /* one parallel_for at a time */
static pthread_t workers[MAX_THREADS];
static int n_workers;            /* threads running (excludes the caller) */
static int requested;            /* qcomp_set_num_threads' value, 0 = default */
static int env_threads = -1;     /* QCOMP_NUM_THREADS, -1 = not read yet, 0 = unset */
static int sleepers;
static int stopping;

/* the batch in progress (atomics). A job is claimed by a compare-and-swap on batch_claim, which
 * holds the batch's generation (high 32 bits) next to the next job index: a worker that woke up
 * late for an old batch can never claim (or skip) a job of a newer one. The caller returns when
 * all jobs are done, never waiting for a worker that took none (asleep or preempted).
 * Cache lines: the batch's description (written once per batch, read by every thread), the claim
 * counter (a read-modify-write per job) and the done counter (one add per thread and batch, which
 * the caller polls) each have a line of their own, so that claiming a job does not take the line
 * the caller polls or the idle workers read away from them. */
#define LINE 64
static struct {
  unsigned long generation;      /* bumped per batch, by the caller only (under run_lock) */
  job_fn fn;
  void *ctx;
  int64_t n;
} batch __attribute__((aligned(LINE)));
static uint64_t batch_claim __attribute__((aligned(LINE)));
static int64_t batch_done __attribute__((aligned(LINE)));   /* jobs of this batch completed */

static int available_cpus(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

static int clamp_threads(long n) { return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n; }

static int threads_in_effect(void) {
  if (requested > 0) return requested;
  if (env_threads < 0) {
    const char *s = getenv("QCOMP_NUM_THREADS");
    char *end = NULL;
    long v = s ? strtol(s, &end, 10) : 0;
    env_threads = (s && end != s && *end == '\0' && v > 0) ? clamp_threads(v) : 0;
  }
  return env_threads > 0 ? env_threads : clamp_threads(available_cpus());
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

/* The per-node profiler's clock (qcomp_set_profiler in qcomp.h): the generated run function calls
 * it before and after each node, only while a profile buffer is set. */
__attribute__((visibility("hidden"))) int64_t qcomp_clock_ns(void) { return (int64_t)now_ns(); }

static int64_t claim(uint32_t gen, int64_t n) {
  uint64_t v = __atomic_load_n(&batch_claim, __ATOMIC_ACQUIRE);
  for (;;) {
    if ((uint32_t)(v >> 32) != gen || (int64_t)(v & 0xffffffffu) >= n) return -1;
    if (__atomic_compare_exchange_n(&batch_claim, &v, v + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
      return (int64_t)(v & 0xffffffffu);
  }
}

static void run_jobs(uint32_t gen, job_fn fn, void *ctx, int64_t n) {
  int64_t done = 0;   /* counted once at the end: one add on batch_done's line per thread, not per job */
  for (int64_t i; (i = claim(gen, n)) >= 0; done++) fn(ctx, i);
  if (done) __atomic_fetch_add(&batch_done, done, __ATOMIC_RELEASE);
}

static void *worker_main(void *arg) {
  /* the generation when the worker was created (not when it starts: the first batch may already
   * have been published by then, and a worker that waited for the next one would never finish it) */
  unsigned long seen = (unsigned long)(uintptr_t)arg;
  for (;;) {
    long start = now_ns();
    unsigned spins = 0;
    while (__atomic_load_n(&batch.generation, __ATOMIC_ACQUIRE) == seen && !__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) {
      cpu_relax();
      if (++spins % 1024 == 0 && now_ns() - start > SPIN_NS) {
        pthread_mutex_lock(&pool_lock);
        while (__atomic_load_n(&batch.generation, __ATOMIC_ACQUIRE) == seen && !stopping) {
          sleepers++;
          pthread_cond_wait(&pool_wake, &pool_lock);
          sleepers--;
        }
        pthread_mutex_unlock(&pool_lock);
      }
    }
    if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) return NULL;
    seen = __atomic_load_n(&batch.generation, __ATOMIC_ACQUIRE);
    run_jobs((uint32_t)seen, __atomic_load_n(&batch.fn, __ATOMIC_ACQUIRE),
             __atomic_load_n(&batch.ctx, __ATOMIC_ACQUIRE), __atomic_load_n(&batch.n, __ATOMIC_ACQUIRE));
  }
}

static void stop_workers(void) {
  pthread_mutex_lock(&pool_lock);
  __atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
  pthread_cond_broadcast(&pool_wake);
  pthread_mutex_unlock(&pool_lock);
  for (int i = 0; i < n_workers; i++) pthread_join(workers[i], NULL);
  n_workers = 0;
  __atomic_store_n(&stopping, 0, __ATOMIC_RELEASE);
}

static int affinity_wanted(void) {
  const char *s = getenv("QCOMP_THREAD_AFFINITY");
  return !(s && s[0] == '0' && s[1] == '\0');
}

/* The CPUs for n - 1 workers: the allowed CPUs other than the one the caller runs on, in order.
 * Returns 0 (no pinning) when there are not enough of them or affinity is off. */
static int worker_cpus(int n, int *cpus) {
  cpu_set_t set;
  if (!affinity_wanted() || sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
  int here = sched_getcpu(), k = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE && k < n - 1; cpu++)
    if (CPU_ISSET(cpu, &set) && cpu != here) cpus[k++] = cpu;
  return k == n - 1;
}

/* Make n - 1 workers run (the caller is the n-th thread). Returns the workers running. */
static int ensure_workers(int n) {
  if (n_workers == n - 1) return n_workers;
  if (n_workers) stop_workers();
  int cpus[MAX_THREADS];
  int pin = worker_cpus(n, cpus);
  for (int i = 0; i < n - 1; i++) {
    void *born = (void *)(uintptr_t)__atomic_load_n(&batch.generation, __ATOMIC_ACQUIRE);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (pin) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpus[i], &one);
      pthread_attr_setaffinity_np(&attr, sizeof(one), &one);   /* a failure leaves the thread unpinned */
    }
    int failed = pthread_create(&workers[i], &attr, worker_main, born);
    pthread_attr_destroy(&attr);
    if (failed && pin) failed = pthread_create(&workers[i], NULL, worker_main, born);   /* CPU gone: unpinned */
    if (failed) break;   /* fewer threads, same results */
    n_workers++;
  }
  return n_workers;
}

__attribute__((visibility("hidden"))) void qcomp_parallel_for(job_fn fn, void *ctx, int64_t n) {
  if (n <= 0) return;
  if (n == 1 || pthread_mutex_trylock(&run_lock) != 0) {
    for (int64_t i = 0; i < n; i++) fn(ctx, i);
    return;
  }
  int threads = threads_in_effect();
  int workers_now = threads > 1 ? ensure_workers(threads) : (n_workers ? (stop_workers(), 0) : 0);
  if (workers_now == 0) {
    for (int64_t i = 0; i < n; i++) fn(ctx, i);
    pthread_mutex_unlock(&run_lock);
    return;
  }
  unsigned long gen = batch.generation + 1;
  __atomic_store_n(&batch_claim, (uint64_t)(uint32_t)gen << 32, __ATOMIC_SEQ_CST);   /* old claims fail */
  __atomic_store_n(&batch.fn, fn, __ATOMIC_RELEASE);
  __atomic_store_n(&batch.ctx, ctx, __ATOMIC_RELEASE);
  __atomic_store_n(&batch.n, n, __ATOMIC_RELEASE);
  __atomic_store_n(&batch_done, 0, __ATOMIC_RELEASE);
  pthread_mutex_lock(&pool_lock);
  __atomic_store_n(&batch.generation, gen, __ATOMIC_RELEASE);
  if (sleepers) pthread_cond_broadcast(&pool_wake);
  pthread_mutex_unlock(&pool_lock);
  run_jobs((uint32_t)gen, fn, ctx, n);
  /* jobs a worker claimed and still runs; on an oversubscribed machine it may have been
   * preempted: after a short spin, give the CPU away while waiting */
  for (unsigned spins = 0; __atomic_load_n(&batch_done, __ATOMIC_ACQUIRE) < n; spins++) {
    if (spins < 4096) cpu_relax();
    else sched_yield();
  }
  pthread_mutex_unlock(&run_lock);
}

int32_t qcomp_set_num_threads(int32_t n) {
  if (n < 0) return -1;
  pthread_mutex_lock(&run_lock);
  requested = n > 0 ? clamp_threads(n) : 0;
  int threads = threads_in_effect();
  if (n_workers && n_workers != threads - 1) stop_workers();   /* re-created at the next run */
  pthread_mutex_unlock(&run_lock);
  return threads;
}

int32_t qcomp_get_num_threads(void) {
  pthread_mutex_lock(&run_lock);
  int threads = threads_in_effect();
  pthread_mutex_unlock(&run_lock);
  return threads;
}

/* dlclose of model.so: the workers must not outlive the code they run */
__attribute__((destructor)) static void pool_unload(void) {
  if (n_workers) stop_workers();
}
