/* The stand-alone runner of a cross-compiled qcomp artifact (arm-sdot: a static aarch64 program).
 *
 *   runner [--raw] [--raw-inputs] [--codes] [--repeat N] -i IN0 [-i IN1 ...] -o OUT0 [-o OUT1 ...]
 *   runner --info
 *
 * Linked statically with the artifact's libmodel.a (the qcomp.h ABI plus the runtime objects), so
 * it runs on a device, or under `qemu-aarch64 -cpu max` on an x86 workstation, with nothing else
 * installed. Inputs are read from files in the order of qcomp_input_info: each file is either a
 * .npy (dtype and shape are checked) or the tensor's raw little-endian bytes (its size is
 * checked). Outputs are written as .npy files (dtype and shape from qcomp_output_info, or
 * qcomp_output_raw_dtype under --raw). Options:
 *   --raw         int8 outputs before each output's Dequantize (QCOMP_RAW_OUTPUTS)
 *   --raw-inputs  int8 inputs, the values after each input's Quantize (QCOMP_RAW_INPUTS)
 *   --codes       the model's own uint8 / int8 codes for the tensors qcomp_input_model_info /
 *                 qcomp_output_model_info mark has_codes (QCOMP_MODEL_CODES, ABI version 3)
 *   --repeat N    run N times on the same inputs (cost measurements); the outputs are the last run's
 *   --info        print the inputs, outputs and workspace size, then exit
 *
 * Before anything runs, the CPU is checked for the instruction sets the code was compiled for:
 * QCOMP_HWCAP_FEATURES (defined by qcomp's build, from the target's features) is a list of
 * {auxv word, bit, name} rows tested with getauxval, e.g. {AT_HWCAP, HWCAP_ASIMDDP, "asimddp"}
 * for SDOT. A core without one gets a clear message and exit code 4, never SIGILL.
 *
 * Exit codes: 0 ok, 2 bad command line, 3 file error (missing, short, wrong dtype/shape), 4 CPU
 * lacks a needed feature, 5 qcomp_run failed (its status string is printed), 6 out of memory.
 * Every error is one line on stderr starting with "qcomp runner: error:".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qcomp.h"

#if defined(__linux__) && defined(QCOMP_HWCAP_FEATURES)
#include <sys/auxv.h>
#if defined(__aarch64__)
#include <asm/hwcap.h>
#endif
#endif

enum { EXIT_USAGE = 2, EXIT_FILE = 3, EXIT_CPU = 4, EXIT_RUN = 5, EXIT_MEMORY = 6 };
#define MAX_TENSORS 64

static int fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("qcomp runner: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return code;
}

static const char *dtype_name(int dtype) {
  switch (dtype) {
    case QCOMP_FLOAT32: return "float32";
    case QCOMP_INT8: return "int8";
    case QCOMP_UINT8: return "uint8";
    case QCOMP_INT32: return "int32";
    case QCOMP_INT64: return "int64";
    case QCOMP_BOOL: return "bool";
    case QCOMP_INT16: return "int16";
    default: return "unknown";
  }
}

static const char *dtype_descr(int dtype) { /* numpy's dtype.str */
  switch (dtype) {
    case QCOMP_FLOAT32: return "<f4";
    case QCOMP_INT8: return "|i1";
    case QCOMP_UINT8: return "|u1";
    case QCOMP_INT32: return "<i4";
    case QCOMP_INT64: return "<i8";
    case QCOMP_BOOL: return "|b1";
    case QCOMP_INT16: return "<i2";
    default: return NULL;
  }
}

static size_t dtype_size(int dtype) {
  switch (dtype) {
    case QCOMP_FLOAT32: case QCOMP_INT32: return 4;
    case QCOMP_INT8: case QCOMP_UINT8: case QCOMP_BOOL: return 1;
    case QCOMP_INT64: return 8;
    case QCOMP_INT16: return 2;
    default: return 0;
  }
}

static size_t numel(const qcomp_tensor_info *t) {
  size_t n = 1;
  for (int i = 0; i < t->rank; ++i) n *= (size_t)t->shape[i];
  return n;
}

static void shape_string(const qcomp_tensor_info *t, char *buf, size_t size) {
  size_t used = (size_t)snprintf(buf, size, "(");
  for (int i = 0; i < t->rank && used < size; ++i)
    used += (size_t)snprintf(buf + used, size - used, i + 1 < t->rank || t->rank == 1 ? "%lld," : "%lld",
                             (long long)t->shape[i]);
  if (used < size) snprintf(buf + used, size - used, ")");
}

/* The CPU check: every {auxv word, bit, name} row of QCOMP_HWCAP_FEATURES must be set. */
static int check_cpu(void) {
#if defined(__linux__) && defined(QCOMP_HWCAP_FEATURES)
  static const struct { unsigned long word, bit; const char *name; } need[] = QCOMP_HWCAP_FEATURES;
  char missing[256] = "";
  for (size_t i = 0; i < sizeof need / sizeof need[0]; ++i) {
    if ((getauxval(need[i].word) & need[i].bit) == 0) {
      strncat(missing, missing[0] ? ", " : "", sizeof missing - strlen(missing) - 1);
      strncat(missing, need[i].name, sizeof missing - strlen(missing) - 1);
    }
  }
  if (missing[0]) {
    /* which cores have it: dotprod from Armv8.2-A (Cortex-A55, A76), i8mm from Armv8.6-A
       (Cortex-A710, X2, Neoverse V1/N2); a core with neither runs the arm-neon target */
    const char *cores = strstr(missing, "i8mm") ? "for i8mm/SMMLA: Cortex-A710, X2, Neoverse V1, N2 or newer"
                                                 : "for dotprod/SDOT: Armv8.2-A cores such as Cortex-A55, A76 or newer";
    return fail(EXIT_CPU, "this CPU lacks %s, which the model's code needs (the target was built with "
                "%s); run the artifact on a core that has it (%s), build for a target this core runs "
                "(arm-neon runs on every aarch64 core), or run it under qemu-aarch64 -cpu max",
                missing, QCOMP_TARGET_FEATURES, cores);
  }
#endif
  return 0;
}

/* A .npy header: check magic, dtype, C order and shape; leave the file at the data. */
static int read_npy_header(FILE *f, const char *path, const char *descr, const qcomp_tensor_info *t) {
  unsigned char pre[8];
  if (fread(pre, 1, 8, f) != 8) return fail(EXIT_FILE, "%s: truncated .npy header", path);
  size_t len;
  if (pre[6] == 1) {
    unsigned char l[2];
    if (fread(l, 1, 2, f) != 2) return fail(EXIT_FILE, "%s: truncated .npy header", path);
    len = (size_t)l[0] | (size_t)l[1] << 8;
  } else if (pre[6] == 2 || pre[6] == 3) {
    unsigned char l[4];
    if (fread(l, 1, 4, f) != 4) return fail(EXIT_FILE, "%s: truncated .npy header", path);
    len = (size_t)l[0] | (size_t)l[1] << 8 | (size_t)l[2] << 16 | (size_t)l[3] << 24;
  } else {
    return fail(EXIT_FILE, "%s: .npy format version %d is not supported", path, pre[6]);
  }
  if (len > 65536) return fail(EXIT_FILE, "%s: .npy header too long", path);
  char *h = malloc(len + 1);
  if (!h) return fail(EXIT_MEMORY, "out of memory");
  if (fread(h, 1, len, f) != len) { free(h); return fail(EXIT_FILE, "%s: truncated .npy header", path); }
  h[len] = 0;
  int rc = 0;
  char want_descr[16], want_shape[200], got_shape[200] = "";
  snprintf(want_descr, sizeof want_descr, "'%s'", descr);
  shape_string(t, want_shape, sizeof want_shape);
  const char *d = strstr(h, "'descr':"), *fo = strstr(h, "'fortran_order':"), *s = strstr(h, "'shape':");
  if (!d || !fo || !s) {
    rc = fail(EXIT_FILE, "%s: not a valid .npy header", path);
  } else if (!strstr(d, want_descr) || strstr(d, want_descr) - d > 12) {
    rc = fail(EXIT_FILE, "%s: input %s must be %s (numpy dtype %s); the file holds another dtype", path,
              t->name, dtype_name(t->dtype), descr);
  } else if (strncmp(fo + 16, " False", 6) != 0) {
    rc = fail(EXIT_FILE, "%s: Fortran-order arrays are not supported; save a C-contiguous array", path);
  } else {
    const char *p = strchr(s, '('), *q = p ? strchr(p, ')') : NULL;
    size_t n = 0;
    for (const char *c = p; p && q && c <= q && n + 1 < sizeof got_shape; ++c)
      if (*c != ' ') got_shape[n++] = *c;
    got_shape[n] = 0;
    if (!p || !q) rc = fail(EXIT_FILE, "%s: not a valid .npy header", path);
    else if (strcmp(got_shape, want_shape) != 0)
      rc = fail(EXIT_FILE, "%s: input %s has shape %s, the model expects %s", path, t->name, got_shape, want_shape);
  }
  free(h);
  return rc;
}

/* One input: .npy (checked) or raw bytes (exactly numel * itemsize of them). */
static int read_input(const char *path, const qcomp_tensor_info *t, int dtype, void *buf) {
  FILE *f = fopen(path, "rb");
  if (!f) return fail(EXIT_FILE, "cannot open input file %s for input %s: %s", path, t->name, strerror(errno));
  size_t bytes = numel(t) * dtype_size(dtype);
  unsigned char magic[6];
  size_t got = fread(magic, 1, 6, f);
  int npy = got == 6 && memcmp(magic, "\x93NUMPY", 6) == 0;
  rewind(f);
  if (npy) {
    int rc = read_npy_header(f, path, dtype_descr(dtype), t);
    if (rc) { fclose(f); return rc; }
  }
  got = fread(buf, 1, bytes, f);
  int extra = fgetc(f) != EOF;
  fclose(f);
  if (got != bytes || extra) {
    char shape[200];
    shape_string(t, shape, sizeof shape);
    return fail(EXIT_FILE, "%s: input %s needs %zu bytes (%s %s)%s, the file has %s", path, t->name, bytes,
                dtype_name(dtype), shape, npy ? " after the .npy header" : "", got < bytes ? "fewer" : "more");
  }
  return 0;
}

static int write_npy(const char *path, const qcomp_tensor_info *t, int dtype, const void *data) {
  FILE *f = fopen(path, "wb");
  if (!f) return fail(EXIT_FILE, "cannot create output file %s: %s", path, strerror(errno));
  char shape[200], header[400];
  shape_string(t, shape, sizeof shape);
  int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                   dtype_descr(dtype), shape);
  int total = 10 + n + 1, pad = (64 - total % 64) % 64;
  unsigned short len = (unsigned short)(n + pad + 1);
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(len & 0xff),
                           (unsigned char)(len >> 8)};
  size_t bytes = numel(t) * dtype_size(dtype);
  int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, (size_t)n, f) == (size_t)n;
  for (int i = 0; ok && i < pad; ++i) ok = fputc(' ', f) != EOF;
  ok = ok && fputc('\n', f) != EOF && fwrite(data, 1, bytes, f) == bytes;
  ok = fclose(f) == 0 && ok;
  return ok ? 0 : fail(EXIT_FILE, "cannot write output file %s: %s", path, strerror(errno));
}

static void usage(void) {
  fprintf(stderr, "usage: runner [--raw] [--raw-inputs] [--codes] [--repeat N] -i INPUT ... -o OUTPUT ...\n"
                  "       runner --info\n"
                  "inputs: .npy or raw little-endian bytes, in the model's input order; outputs: .npy\n");
}

static int info(void) {
  char shape[200];
  qcomp_tensor_info t;
  for (int i = 0; i < qcomp_num_inputs(); ++i) {
    qcomp_input_info(i, &t);
    shape_string(&t, shape, sizeof shape);
    printf("input %d %s %s %s scale %.9g zero_point %d\n", i, t.name, dtype_name(t.dtype), shape, t.scale,
           t.zero_point);
  }
  for (int i = 0; i < qcomp_num_outputs(); ++i) {
    qcomp_output_info(i, &t);
    shape_string(&t, shape, sizeof shape);
    printf("output %d %s %s %s raw %s scale %.9g zero_point %d\n", i, t.name, dtype_name(t.dtype), shape,
           dtype_name(qcomp_output_raw_dtype(i)), t.scale, t.zero_point);
  }
  printf("workspace %zu\n", qcomp_workspace_size());
  return 0;
}

int main(int argc, char **argv) {
  const char *in_paths[MAX_TENSORS], *out_paths[MAX_TENSORS];
  int n_in = 0, n_out = 0, flags = 0, show_info = 0;
  long repeat = 1;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (strcmp(a, "--raw") == 0) flags |= QCOMP_RAW_OUTPUTS;
    else if (strcmp(a, "--raw-inputs") == 0) flags |= QCOMP_RAW_INPUTS;
    else if (strcmp(a, "--codes") == 0) flags |= QCOMP_MODEL_CODES;
    else if (strcmp(a, "--info") == 0) show_info = 1;
    else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { usage(); return 0; }
    else if ((strcmp(a, "-i") == 0 || strcmp(a, "-o") == 0 || strcmp(a, "--repeat") == 0) && i + 1 < argc) {
      const char *v = argv[++i];
      if (a[1] == 'i' && n_in < MAX_TENSORS) in_paths[n_in++] = v;
      else if (a[1] == 'o' && n_out < MAX_TENSORS) out_paths[n_out++] = v;
      else if (a[1] == '-') {
        char *end;
        repeat = strtol(v, &end, 10);
        if (*end || repeat < 1) { usage(); return fail(EXIT_USAGE, "--repeat needs a positive count, got %s", v); }
      } else return fail(EXIT_USAGE, "more than %d files", MAX_TENSORS);
    } else {
      usage();
      return fail(EXIT_USAGE, "unexpected argument %s", a);
    }
  }
  if (qcomp_abi_version() != QCOMP_ABI_VERSION)
    return fail(EXIT_RUN, "the model has ABI version %d, this runner was built for %d", qcomp_abi_version(),
                QCOMP_ABI_VERSION);
  if (show_info) return info();
  int cpu = check_cpu();
  if (cpu) return cpu;
  if (n_in != qcomp_num_inputs() || n_out != qcomp_num_outputs()) {
    usage();
    return fail(EXIT_USAGE, "the model has %d input(s) and %d output(s); got %d -i and %d -o files (--info lists them)",
                qcomp_num_inputs(), qcomp_num_outputs(), n_in, n_out);
  }
  void *ins[MAX_TENSORS], *outs[MAX_TENSORS];
  int in_dtype[MAX_TENSORS], out_dtype[MAX_TENSORS];
  qcomp_tensor_info in_info[MAX_TENSORS], out_info[MAX_TENSORS];
  for (int i = 0; i < n_in; ++i) {
    qcomp_input_info(i, &in_info[i]);
    /* raw inputs: a float input takes its int8 form; other dtypes stay as they are */
    in_dtype[i] = (flags & QCOMP_RAW_INPUTS) && in_info[i].dtype == QCOMP_FLOAT32 ? QCOMP_INT8 : (int)in_info[i].dtype;
    if (flags & QCOMP_MODEL_CODES) {   /* the model's codes replace the raw flag for has_codes tensors */
      qcomp_model_tensor_info m;
      if (qcomp_input_model_info(i, &m) == QCOMP_OK && m.has_codes) in_dtype[i] = (int)m.dtype;
    }
    ins[i] = malloc(numel(&in_info[i]) * dtype_size(in_dtype[i]) + 1);
    if (!ins[i]) return fail(EXIT_MEMORY, "out of memory for input %s", in_info[i].name);
    int rc = read_input(in_paths[i], &in_info[i], in_dtype[i], ins[i]);
    if (rc) return rc;
  }
  for (int i = 0; i < n_out; ++i) {
    qcomp_output_info(i, &out_info[i]);
    out_dtype[i] = flags & QCOMP_RAW_OUTPUTS ? qcomp_output_raw_dtype(i) : (int)out_info[i].dtype;
    if (flags & QCOMP_MODEL_CODES) {
      qcomp_model_tensor_info m;
      if (qcomp_output_model_info(i, &m) == QCOMP_OK && m.has_codes) out_dtype[i] = (int)m.dtype;
    }
    if (dtype_size(out_dtype[i]) == 0) return fail(EXIT_RUN, "output %s has an unknown dtype", out_info[i].name);
    outs[i] = malloc(numel(&out_info[i]) * dtype_size(out_dtype[i]) + 1);
    if (!outs[i]) return fail(EXIT_MEMORY, "out of memory for output %s", out_info[i].name);
  }
  size_t ws_size = qcomp_workspace_size();
  size_t alloc = (ws_size + QCOMP_WORKSPACE_ALIGN) / QCOMP_WORKSPACE_ALIGN * QCOMP_WORKSPACE_ALIGN;
  void *ws = aligned_alloc(QCOMP_WORKSPACE_ALIGN, alloc);
  if (!ws) return fail(EXIT_MEMORY, "out of memory for the %zu-byte workspace", ws_size);
  for (long r = 0; r < repeat; ++r) {
    qcomp_status status = qcomp_run_ex(ws, ws_size, (const void *const *)ins, outs, flags);
    if (status != QCOMP_OK)
      return fail(EXIT_RUN, "qcomp_run failed with status %d: %s", (int)status, qcomp_status_string(status));
  }
  for (int i = 0; i < n_out; ++i) {
    int rc = write_npy(out_paths[i], &out_info[i], out_dtype[i], outs[i]);
    if (rc) return rc;
  }
  return 0;
}
