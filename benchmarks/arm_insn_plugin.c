/* A QEMU TCG plugin that counts the guest instructions a program executes, and among them the
 * AArch64 SDOT and SMMLA instructions, for benchmarks/arm_cost.py (qemu-user's own insn plugin is not
 * shipped by Debian's qemu-user; its binary exports the plugin API, so a plugin built here loads).
 *
 *   qemu-aarch64 -cpu max -plugin ./arm_insn_plugin.so,out=counts.txt PROGRAM ...
 *   -> counts.txt: "instructions N\nsdot M\nsmmla K\n"
 *
 * Counting is inline (a 64-bit add per translated block, and per SDOT), like QEMU's
 * tests/plugin/insn.c: exact for single-threaded guests (run the model with QCOMP_NUM_THREADS=1:
 * inline adds from several vCPU threads are not atomic). SDOT is recognized by its encoding
 * (vector: 0x0e809400 under mask 0xbfe0fc00; by element: 0x0f80e000 under 0xbfc0f400), so no
 * disassembler is involved. The few declarations of QEMU's qemu-plugin.h (API version 1, QEMU
 * 7.x) this needs are repeated here, since the header is not packaged.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op,
                                                void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t instructions, sdots, smmlas;
static char out_path[4096];

static int is_sdot(uint32_t w) {
  return (w & 0xbfe0fc00u) == 0x0e809400u || (w & 0xbfc0f400u) == 0x0f80e000u;
}

/* SMMLA Vd.4S, Vn.16B, Vm.16B (i8mm) */
static int is_smmla(uint32_t w) { return (w & 0xffe0fc00u) == 0x4e80a400u; }

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  (void)id;
  size_t n = qemu_plugin_tb_n_insns(tb);
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &instructions, n);
  for (size_t i = 0; i < n; ++i) {
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
    uint32_t word;
    if (qemu_plugin_insn_size(insn) != 4) continue;
    memcpy(&word, qemu_plugin_insn_data(insn), 4);
    if (is_sdot(word)) qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &sdots, 1);
    if (is_smmla(word)) qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &smmlas, 1);
  }
}

static void on_exit(qemu_plugin_id_t id, void *userdata) {
  (void)id, (void)userdata;
  FILE *f = out_path[0] ? fopen(out_path, "w") : stderr;
  if (!f) return;
  fprintf(f, "instructions %" PRIu64 "\nsdot %" PRIu64 "\nsmmla %" PRIu64 "\n", instructions, sdots, smmlas);
  if (f != stderr) fclose(f);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv) {
  (void)info;
  for (int i = 0; i < argc; ++i)
    if (strncmp(argv[i], "out=", 4) == 0) snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_atexit_cb(id, on_exit, NULL);
  return 0;
}
