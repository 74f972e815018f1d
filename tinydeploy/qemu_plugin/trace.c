/* A QEMU TCG plugin for tinydeploy's cycle estimates (tinydeploy/cycles.py).
 *
 * While the firmware runs between its trace markers (the code of td_trace_start, then up to
 * td_trace_stop), every executed translation block is counted by the block it follows, per
 * segment (a segment ends each time the code at `mark` runs: td_profile_mark after a layer). At
 * exit it writes, to the file `out`, every translated block (address and instruction bytes) and
 * the counts: the exact instruction stream, and for each block's last instruction whether the
 * next block was its fall-through (a branch not taken) or not.
 *
 * Arguments: start=ADDR,stop=ADDR,mark=ADDR,out=PATH (addresses in hex, Thumb bit ignored).
 *
 * QEMU's plugin API is a C ABI (qemu-plugin.h, API version 1 in QEMU 7.2); Debian ships the
 * plugin-capable binary but not the header, so the few functions used are declared here. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct {
    const char *target_name;
    struct { int min, cur; } version;
    bool system_emulation;
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef void (*tb_trans_cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*tb_exec_cb)(unsigned int vcpu, void *userdata);
typedef void (*atexit_cb)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, tb_exec_cb cb, int flags,
                                          void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, atexit_cb cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

typedef struct block {
    uint32_t id, vaddr, size, n;
    uint8_t *bytes;
    uint16_t *lens;          /* each instruction's length, 2 or 4 */
    struct block *next;      /* every block, for the dump */
} block;

typedef struct {
    uint32_t segment, from, to;  /* from == UINT32_MAX: unused slot */
    uint64_t count;
} transition;

static block *blocks;
static uint32_t block_count;
static transition *table;
static uint64_t table_size = 1u << 20, table_used;
static uint32_t start_addr, stop_addr, mark_addr;
static char out_path[1024];
static bool recording;
static uint32_t segment;
static block *previous;

static uint64_t slot(uint32_t seg, uint32_t from, uint32_t to) {
    uint64_t h = ((uint64_t)seg * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)from << 21) ^ to;
    h ^= h >> 29;
    return (h * 0xBF58476D1CE4E5B9ull) & (table_size - 1);
}

static void grow(void);

static void count(uint32_t seg, uint32_t from, uint32_t to) {
    for (uint64_t i = slot(seg, from, to);; i = (i + 1) & (table_size - 1)) {
        transition *t = &table[i];
        if (t->from == UINT32_MAX) {
            t->segment = seg, t->from = from, t->to = to, t->count = 1;
            if (++table_used * 2 > table_size) grow();
            return;
        }
        if (t->segment == seg && t->from == from && t->to == to) {
            t->count++;
            return;
        }
    }
}

static void grow(void) {
    transition *old = table;
    uint64_t old_size = table_size;
    table_size *= 2;
    table = malloc(table_size * sizeof *table);
    if (!table) abort();
    for (uint64_t i = 0; i < table_size; ++i) table[i].from = UINT32_MAX;
    table_used = 0;
    for (uint64_t i = 0; i < old_size; ++i)
        if (old[i].from != UINT32_MAX)
            for (uint64_t k = slot(old[i].segment, old[i].from, old[i].to);;
                 k = (k + 1) & (table_size - 1))
                if (table[k].from == UINT32_MAX) {
                    table[k] = old[i];
                    table_used++;
                    break;
                }
    free(old);
}

static void executed(unsigned int vcpu, void *userdata) {
    (void)vcpu;
    block *b = userdata;
    if (b->vaddr == start_addr) {
        recording = true;
        segment = 0;
        previous = NULL;
    }
    if (!recording) return;
    if (previous) count(segment, previous->id, b->id);
    previous = b;
    if (b->vaddr == mark_addr) segment++;
    if (b->vaddr == stop_addr) recording = false;
}

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    block *b = calloc(1, sizeof *b);
    if (!b) abort();
    b->n = (uint32_t)qemu_plugin_tb_n_insns(tb);
    b->lens = calloc(b->n ? b->n : 1, sizeof *b->lens);
    for (uint32_t i = 0; i < b->n; ++i) {
        const struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        if (i == 0) b->vaddr = (uint32_t)qemu_plugin_insn_vaddr(insn);
        b->lens[i] = (uint16_t)qemu_plugin_insn_size(insn);
        b->size += b->lens[i];
    }
    b->bytes = malloc(b->size ? b->size : 1);
    if (!b->lens || !b->bytes) abort();
    for (uint32_t i = 0, at = 0; i < b->n; at += b->lens[i], ++i)
        memcpy(b->bytes + at, qemu_plugin_insn_data(qemu_plugin_tb_get_insn(tb, i)), b->lens[i]);
    b->id = block_count++;
    b->next = blocks;
    blocks = b;
    qemu_plugin_register_vcpu_tb_exec_cb(tb, executed, 0, b);
}

static void finished(qemu_plugin_id_t id, void *userdata) {
    (void)id, (void)userdata;
    FILE *f = fopen(out_path, "w");
    if (!f) return;
    for (block *b = blocks; b; b = b->next) {
        fprintf(f, "B %u %x ", b->id, b->vaddr);
        for (uint32_t i = 0; i < b->size; ++i) fprintf(f, "%02x", b->bytes[i]);
        fputc(' ', f);
        for (uint32_t i = 0; i < b->n; ++i) fprintf(f, "%s%u", i ? "," : "", b->lens[i]);
        fputc('\n', f);
    }
    for (uint64_t i = 0; i < table_size; ++i)
        if (table[i].from != UINT32_MAX)
            fprintf(f, "T %u %u %u %llu\n", table[i].segment, table[i].from, table[i].to,
                    (unsigned long long)table[i].count);
    fclose(f);
}

static uint32_t address(const char *text) { return (uint32_t)strtoul(text, NULL, 16) & ~1u; }

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const qemu_info_t *info,
                                                               int argc, char **argv) {
    (void)info;
    for (int i = 0; i < argc; ++i) {
        if (!strncmp(argv[i], "start=", 6)) start_addr = address(argv[i] + 6);
        else if (!strncmp(argv[i], "stop=", 5)) stop_addr = address(argv[i] + 5);
        else if (!strncmp(argv[i], "mark=", 5)) mark_addr = address(argv[i] + 5);
        else if (!strncmp(argv[i], "out=", 4)) snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        else return -1;
    }
    if (!out_path[0] || !start_addr || !stop_addr) return -1;
    table = malloc(table_size * sizeof *table);
    if (!table) return -1;
    for (uint64_t i = 0; i < table_size; ++i) table[i].from = UINT32_MAX;
    qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
    qemu_plugin_register_atexit_cb(id, finished, NULL);
    return 0;
}
