/* qcomp artifact ABI (version 3).
 *
 * Every compiled qcomp artifact (model.so / libmodel.a / generated C) exports these functions.
 * The caller owns all memory: it asks for the workspace size, provides the workspace and the
 * input/output buffers, and runs. No function aborts: bad arguments return an error code.
 *
 * Tensors cross the ABI in the layout and dtype the manifest records for each input/output
 * (the ONNX model's own layout). Float I/O is quantized/dequantized inside the artifact;
 * raw int8 I/O is available with qcomp_run_raw.
 *
 * The status codes, their messages (the comments: qcomp_status_string returns them, every
 * QCOMP_ macro #defined here expanded), the dtype codes, QCOMP_WORKSPACE_ALIGN and the raw flags
 * are read by qcomp itself (qcomp/abi.py): this header is their one definition.
 *
 * Versions: a version adds functions or status codes and never changes one that exists, so a
 * caller written for version N runs every artifact of version >= N unchanged; a caller that uses
 * a function of version N checks qcomp_abi_version() >= N first. Version 2 added the per-node
 * profiler (qcomp_profiled_nodes, qcomp_profiled_node_name, qcomp_set_profiler) and
 * QCOMP_ERR_UNSUPPORTED. Version 3 added the model's own integer codes at the ABI (QCOMP_MODEL_CODES,
 * qcomp_input_model_info, qcomp_output_model_info, qcomp_model_tensor_info) and QCOMP_ERR_BAD_FLAGS.
 */
#ifndef QCOMP_H
#define QCOMP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QCOMP_ABI_VERSION 3

typedef enum {
  QCOMP_OK = 0,                   /* ok */
  QCOMP_ERR_NULL_ARGUMENT = 1,    /* a required pointer is NULL */
  QCOMP_ERR_BAD_INDEX = 2,        /* input/output index out of range */
  QCOMP_ERR_BUFFER_TOO_SMALL = 3, /* a buffer is smaller than the tensor or workspace */
  QCOMP_ERR_MISALIGNED = 4,       /* workspace not aligned to QCOMP_WORKSPACE_ALIGN bytes */
  QCOMP_ERR_UNSUPPORTED_CPU = 5,  /* the CPU lacks a feature the code needs */
  QCOMP_ERR_INTERNAL = 6,         /* internal error (or a float form compiled out by QCOMP_NO_FLOAT) */
  QCOMP_ERR_NO_RAW_FORM = 7,      /* raw I/O asked for a tensor that has no integer form */
  QCOMP_ERR_BAD_INPUT = 8,        /* an input value is out of range (a Gather index) */
  QCOMP_ERR_UNSUPPORTED = 9,      /* this artifact does not implement the call (per-node profiling: llvm artifacts only) */
  QCOMP_ERR_BAD_FLAGS = 10        /* qcomp_run_ex flags hold a bit this ABI version does not define */
} qcomp_status;

#define QCOMP_WORKSPACE_ALIGN 64

typedef enum { QCOMP_FLOAT32 = 0, QCOMP_INT8 = 1, QCOMP_UINT8 = 2, QCOMP_INT32 = 3, QCOMP_INT64 = 4,
               QCOMP_BOOL = 5 /* one byte per element, 0 or 1 */,
               QCOMP_INT16 = 6 /* A16W8 activations: symmetric, zero point 0 */ } qcomp_dtype;

typedef struct {
  const char *name;      /* the ONNX name */
  qcomp_dtype dtype;     /* dtype at the ABI (float32 for float models) */
  int32_t rank;
  int64_t shape[8];
  float scale;           /* quant params of the int8 form (qcomp_run_raw) */
  int32_t zero_point;
} qcomp_tensor_info;

int32_t qcomp_abi_version(void);
int32_t qcomp_num_inputs(void);
int32_t qcomp_num_outputs(void);
qcomp_status qcomp_input_info(int32_t index, qcomp_tensor_info *info);
qcomp_status qcomp_output_info(int32_t index, qcomp_tensor_info *info);
size_t qcomp_workspace_size(void);

/* inputs[i] / outputs[i] point at buffers of the dtype and shape of input/output i. */
qcomp_status qcomp_run(void *workspace, size_t workspace_size,
                       const void *const *inputs, void *const *outputs);
/* The same, with int8 inputs and outputs (before dequantization). */
qcomp_status qcomp_run_raw(void *workspace, size_t workspace_size,
                           const int8_t *const *inputs, int8_t *const *outputs);
/* Either of the above, chosen per side: flags QCOMP_RAW_INPUTS take int8 inputs (the values after
 * each input's Quantize), QCOMP_RAW_OUTPUTS return int8 outputs (before each output's Dequantize);
 * qcomp_output_raw_dtype(i) is output i's dtype under QCOMP_RAW_OUTPUTS (-1: bad index). */
#define QCOMP_RAW_INPUTS 1
#define QCOMP_RAW_OUTPUTS 2
qcomp_status qcomp_run_ex(void *workspace, size_t workspace_size,
                          const void *const *inputs, void *const *outputs, int32_t flags);
int32_t qcomp_output_raw_dtype(int32_t index);
const char *qcomp_status_string(qcomp_status status);

/* The model's own integer codes (version 3). A model whose input is uint8/int8 read by a
 * DequantizeLinear (or a Cast to float), or whose output is written by a QuantizeLinear, states an
 * integer dtype, a scale and a zero point for that tensor; qcomp_tensor_info describes the float
 * buffer of plain qcomp_run and the int8 form of raw I/O instead. qcomp_input_model_info /
 * qcomp_output_model_info give the model's view of tensor `index`: one struct getter per side, like
 * qcomp_input_info, so that a caller reads a tensor's dtype and params in one call that cannot
 * disagree with itself. For a tensor the model does not state as integer codes, dtype is the
 * qcomp_tensor_info dtype and has_codes, scale and zero_point are 0.
 *
 * qcomp_run_ex flag QCOMP_MODEL_CODES: every input and output with has_codes = 1 takes / returns the
 * model's codes in the model's dtype (uint8 as uint8, int8 as int8; value = (code - zero_point) *
 * scale), converted inside the artifact with integer operations only (the int8 form of a uint8 code
 * q is q ^ 0x80, of an int8 code the code itself). For those tensors the flag replaces the raw flag
 * of their side; every other tensor follows QCOMP_RAW_INPUTS / QCOMP_RAW_OUTPUTS (or neither) as in
 * version 2. QCOMP_MODEL_CODES | QCOMP_RAW_INPUTS | QCOMP_RAW_OUTPUTS is thus "every tensor as an
 * integer": the model's codes where it states them, qcomp's int8 form elsewhere. A flag bit not
 * defined here gives QCOMP_ERR_BAD_FLAGS; QCOMP_MODEL_CODES on an artifact where a has_codes tensor
 * has no exact int8 form (computed in float: --quant dynamic / weight) gives QCOMP_ERR_NO_RAW_FORM;
 * neither runs anything. */
#define QCOMP_MODEL_CODES 4

typedef struct {
  qcomp_dtype dtype;     /* the model's dtype: the buffer qcomp_run_ex takes / returns under QCOMP_MODEL_CODES */
  int32_t has_codes;     /* 1: the model states integer codes for this tensor (dtype QCOMP_UINT8 or QCOMP_INT8) */
  float scale;           /* the model's own scale and zero point (its DequantizeLinear / QuantizeLinear; */
  int32_t zero_point;    /* a Cast-to-float input: 1 and 0) */
} qcomp_model_tensor_info;

qcomp_status qcomp_input_model_info(int32_t index, qcomp_model_tensor_info *info);
qcomp_status qcomp_output_model_info(int32_t index, qcomp_model_tensor_info *info);

/* Threads the kernels use (llvm-backend artifacts): n > 0 sets the count, 0 restores the default
 * (the QCOMP_NUM_THREADS environment variable if set, else the CPUs this process may run on).
 * Returns the count now in effect, or -1 for n < 0 (nothing changes). Results are identical for
 * every thread count. Not to be called while a qcomp_run of this library is in progress. Each
 * worker thread is pinned to its own CPU of the allowed set unless QCOMP_THREAD_AFFINITY=0. */
int32_t qcomp_set_num_threads(int32_t n);
int32_t qcomp_get_num_threads(void);

/* Per-node profiler (version 2). The nodes an artifact times are its kernels in run order:
 * qcomp_profiled_nodes() of them (0: this artifact has no per-node clock, the C backend's), node i
 * named by qcomp_profiled_node_name(i) (the node name of the TARGET graph, model.qir lowered;
 * NULL for a bad index). qcomp_set_profiler(node_ns, capacity) with node_ns != NULL and capacity
 * >= qcomp_profiled_nodes() makes every following run ADD each node's wall time in nanoseconds
 * (CLOCK_MONOTONIC, read before and after the node on the calling thread: the node's jobs on every
 * thread included) to node_ns[i]; the caller zeroes the buffer when it wants one run's times.
 * qcomp_set_profiler(NULL, 0) turns it off (the default): a run then costs one untaken branch per
 * node. Returns QCOMP_ERR_BUFFER_TOO_SMALL for a capacity below qcomp_profiled_nodes() and
 * QCOMP_ERR_UNSUPPORTED for a buffer given to an artifact without a per-node clock (nothing
 * changes). The buffer is global to the library: not to be changed, or read, while a qcomp_run of
 * it is in progress, and concurrent runs would add into it together. */
int32_t qcomp_profiled_nodes(void);
const char *qcomp_profiled_node_name(int32_t index);
qcomp_status qcomp_set_profiler(uint64_t *node_ns, int32_t capacity);

#ifdef __cplusplus
}
#endif
#endif /* QCOMP_H */
