/* Batch runner for simulated boards: many models in one image, test vectors through semihosting
 * files instead of the serial protocol, one emulator run for a whole test suite.
 *
 * cases.bin, read record by record: int32 model index, int32 flags (1: reset the model's state
 * first, 2: profile the layers), then the model's inputs (every input's bytes, one after another).
 * outputs.bin, written per record: uint32 timer ticks of the inference, then every output's bytes;
 * a profiled record adds int32 kernel calls and the uint32 ticks of each. The run ends with exit
 * status 0, or 3 where a file cannot be opened and 4 on a short or unknown record. */
#include <stdint.h>
#include <string.h>

#include "board_config.h"
#include "td_hal.h"
#include "td_models.h"

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define MODE_RB 1
#define MODE_WB 5

static int8_t arena[TD_ARENA_BYTES > 0 ? TD_ARENA_BYTES : 16] TD_ARENA_ATTR;
static int8_t state[TD_STATE_BYTES > 0 ? TD_STATE_BYTES : 16] TD_STATE_ATTR;

static int32_t semihost(uint32_t op, volatile uint32_t *args) {
    register uint32_t r0 __asm("r0") = op;
    register volatile uint32_t *r1 __asm("r1") = args;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (int32_t)r0;
}

static int32_t open_file(const char *name, uint32_t mode) {
    volatile uint32_t args[3] = {(uint32_t)(uintptr_t)name, mode, (uint32_t)strlen(name)};
    return semihost(SYS_OPEN, args);
}

/* Reads exactly n bytes; 0 where the file ended first. */
static int read_exact(int32_t fd, void *buf, uint32_t n) {
    volatile uint32_t args[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, n};
    return n == 0 || semihost(SYS_READ, args) == 0;
}

static void write_all(int32_t fd, const void *buf, uint32_t n) {
    volatile uint32_t args[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, n};
    if (n) semihost(SYS_WRITE, args);
}

static uint32_t layer_ticks[TD_MAX_LAYERS > 0 ? TD_MAX_LAYERS : 1];
static uint64_t layer_start;
static int32_t profiling;  /* the record asks for each kernel call's ticks (flag 2) */

/* Markers for the cycle tracer (tinydeploy/cycles.py): it records what runs from the start of
 * td_trace_start to td_trace_stop, one segment per layer (td_profile_mark). Never inlined: their
 * code's address is all the tracer needs. td_profile_mark also keeps each kernel call's timer
 * ticks, only for profiled records: other runs, traced ones too, spend a test and a return. */
__attribute__((noinline)) void td_trace_start(void) { __asm volatile(""); }
__attribute__((noinline)) void td_trace_stop(void) { __asm volatile(""); }
__attribute__((noinline)) void td_profile_mark(int layer) {
    if (!profiling) return;
    const uint64_t now = td_timer_now();
    layer_ticks[layer] = (uint32_t)(now - layer_start);
    layer_start = now;
}

int main(void) {
    td_timer_init();
    const int32_t in = open_file("cases.bin", MODE_RB), out = open_file("outputs.bin", MODE_WB);
    if (in < 0 || out < 0) td_exit(3);
    for (int i = 0; i < TD_NUM_MODELS; ++i) td_models[i]->reset(state + td_state_offsets[i]);
    int32_t head[2];
    while (read_exact(in, head, sizeof head)) {
        if (head[0] < 0 || head[0] >= TD_NUM_MODELS) td_exit(4);
        const td_descriptor *m = td_models[head[0]];
        int8_t *st = state + td_state_offsets[head[0]];
        if (head[1] & 1) m->reset(st);
        profiling = head[1] & 2;
        for (int32_t k = 0; k < m->num_inputs; ++k)
            if (!read_exact(in, arena + m->inputs[k].offset, (uint32_t)m->inputs[k].bytes))
                td_exit(4);
        const uint64_t t0 = td_timer_now();
        layer_start = t0;
        td_trace_start();
        m->invoke(arena, st);
        td_trace_stop();
        const uint32_t ticks = (uint32_t)(td_timer_now() - t0);
        write_all(out, &ticks, sizeof ticks);
        for (int32_t k = 0; k < m->num_outputs; ++k)
            write_all(out, arena + m->outputs[k].offset, (uint32_t)m->outputs[k].bytes);
        if (profiling) {
            write_all(out, &m->num_layers, sizeof m->num_layers);
            write_all(out, layer_ticks, (uint32_t)m->num_layers * sizeof layer_ticks[0]);
        }
    }
    volatile uint32_t close_in[1] = {(uint32_t)in}, close_out[1] = {(uint32_t)out};
    semihost(SYS_CLOSE, close_in);
    semihost(SYS_CLOSE, close_out);
    td_exit(0);
    return 0;
}
