/* FULLY_CONNECTED, int8, weights [out_depth, in_depth], per-tensor or per-channel scales.
 * With symmetric weights (filter_offset 0, TFLite's int8 rule) the input offset is folded into
 * the bias and four output rows share every input load (weights in a td_matmul.h layout: int8 or
 * pre-widened blocks, or plain rows for Helium). With pre-widened weights the input row is widened
 * once into the scratch where the memory plan left room for it (p->wide_input). */
#include "td_kernels.h"
#include "td_matmul.h"
#include "td_quant.h"

static inline int8_t fc_out(const td_fc_params *p, int32_t acc, int32_t o) {
    const int32_t q = p->per_channel ? o : 0;
    const int32_t v = p->rq ? td_requant_fc(p->rq + 3 * q, acc)
                      : (p->double_rounding ? td_mbqm(acc, p->mult[q], p->shift[q])
                                            : td_mbqm_single(acc, p->mult[q], p->shift[q]))
                        + p->output_offset;
    return (int8_t)td_clamp(v, p->act_min, p->act_max);
}

/* The last n < 4 values of four rows: the tail group of the blocked layout. */
static void fc_tail(const void *w, int layout, const int8_t *x, int32_t n, int32_t acc[4]) {
    static const int8_t pos_wide[4] = {0, 2, 1, 3};  /* value j of a group sits at pos_wide[j] */
    for (int r = 0; r < 4; ++r)
        for (int32_t j = 0; j < n; ++j)
            acc[r] += x[j] * (layout == TD_W16 ? ((const int16_t *)w)[4 * r + pos_wide[j]]
                                               : ((const int8_t *)w)[4 * r + j]);
}

#if defined(TD_DSP) && defined(TD_LDM_LOOPS)
/* The whole layer in one assembly block (pre-widened weights, fast records, int8 saturation, whole
 * groups and blocks): per block of four rows the folded biases (one LDM), the groups (below), then
 * per row SMMLA (product high word plus the record's constant), ASR, SSAT and a byte store.
 * Registers: r0-r3 the four sums, r4-r5 (r4-r7 for a pair) the input words, r6-r11 (r8-r11) the
 * weight words, r12 the weight pointer (blocks are consecutive), lr the input pointer, r10 the
 * output pointer between blocks; the rest lives in a struct on the stack. Groups run in threes
 * (FC_TRIPLE: per group one load of its input, per 48 MACs four LDMs of six weight words, 31
 * instructions where pairs of groups would take 31.5), FC_PASS threes per pass of the loop, after
 * the one or two groups left over (FC_ODD, FC_PAIR). A block starts with a computed branch (`start`
 * bytes on) to the odd group (which jumps on past the pair), to the pair, or straight into the
 * pass; the first two end with a second one (`entry` bytes into the pass), so that any number of
 * threes takes whole passes. The biases' address is bias_d + 4 * out (one ADD, no pointer to
 * store). */
typedef struct {
    uint32_t bias_d;               /* bias address - 4 * out address (mod 2^32) */
    const void *x;                 /* the input row */
    int8_t *out;                   /* advanced per block */
    const int32_t *rq;             /* advanced per block, per channel only */
    int8_t *out_end;
    const void *x_end;             /* where the groups end */
    int32_t start, entry, per_channel;
} fc_run_ctx;

#define FC_STR_(v) #v
#define FC_STR(v) FC_STR_(v)
#define FC_PASS 11
/* a group's 16 MACs against input words xe (x0, x2) and xo (x1, x3): two LDMs of four weight
 * words, eight SMLADs */
#define FC_ROWS(xe, xo) \
    "ldm.w r12!, {r8-r11}\n\t" \
    "smlad r0, r8, " xe ", r0\n\t" \
    "smlad r0, r9, " xo ", r0\n\t" \
    "smlad r1, r10, " xe ", r1\n\t" \
    "smlad r1, r11, " xo ", r1\n\t" \
    "ldm.w r12!, {r8-r11}\n\t" \
    "smlad r2, r8, " xe ", r2\n\t" \
    "smlad r2, r9, " xo ", r2\n\t" \
    "smlad r3, r10, " xe ", r3\n\t" \
    "smlad r3, r11, " xo ", r3\n\t"
/* row r's two SMLADs against r4 r5 with weight words we, wo */
#define FC_ROW(r, we, wo) \
    "smlad " r ", " we ", r4, " r "\n\t" \
    "smlad " r ", " wo ", r5, " r "\n\t"
/* three groups, LD loading each one's input words into r4 r5 */
#define FC_TRIPLE(LD) \
    LD \
    "ldm.w r12!, {r6-r11}\n\t" \
    FC_ROW("r0", "r6", "r7") FC_ROW("r1", "r8", "r9") FC_ROW("r2", "r10", "r11") \
    "ldm.w r12!, {r6-r11}\n\t" \
    FC_ROW("r3", "r6", "r7") \
    LD \
    FC_ROW("r0", "r8", "r9") FC_ROW("r1", "r10", "r11") \
    "ldm.w r12!, {r6-r11}\n\t" \
    FC_ROW("r2", "r6", "r7") FC_ROW("r3", "r8", "r9") \
    LD \
    FC_ROW("r0", "r10", "r11") \
    "ldm.w r12!, {r6-r11}\n\t" \
    FC_ROW("r1", "r6", "r7") FC_ROW("r2", "r8", "r9") FC_ROW("r3", "r10", "r11")
/* input widened beforehand: a group's words are (x0, x2) (x1, x3) */
#define FC_LD_WIDE "ldrd r4, r5, [lr], #8\n\t"
#define FC_ODD_WIDE FC_LD_WIDE FC_ROWS("r4", "r5")
#define FC_ODD_WIDE_BYTES 44
#define FC_PAIR_WIDE "ldm.w lr!, {r4-r7}\n\t" FC_ROWS("r4", "r5") FC_ROWS("r6", "r7")
#define FC_PAIR_WIDE_BYTES 84
#define FC_TRIPLE_WIDE_BYTES 124
/* int8 input: each word widened by two SXTB16s */
#define FC_LD_S8 \
    "ldr.w r5, [lr], #4\n\t" \
    "sxtb16 r4, r5\n\t" \
    "sxtb16 r5, r5, ror #8\n\t"
#define FC_ODD_S8 FC_LD_S8 FC_ROWS("r4", "r5")
#define FC_ODD_S8_BYTES 52
#define FC_PAIR_S8 \
    "ldm.w lr!, {r5, r7}\n\t" \
    "sxtb16 r4, r5\n\t" \
    "sxtb16 r5, r5, ror #8\n\t" \
    "sxtb16 r6, r7\n\t" \
    "sxtb16 r7, r7, ror #8\n\t" FC_ROWS("r4", "r5") FC_ROWS("r6", "r7")
#define FC_PAIR_S8_BYTES 100
#define FC_TRIPLE_S8_BYTES 148
/* sum a to an int8 at [r10] through record (m, e, k): SMMLA gives (a * m >> 32) + k */
#define FC_OUT(t, a, m, e, k) \
    "smmla " t ", " a ", " m ", " k "\n\t" \
    "asr " t ", " t ", " e "\n\t" \
    "ssat " t ", #8, " t "\n\t" \
    "strb " t ", [r10], #1\n\t"
/* the byte counts above are what the computed branches skip; the assembler checks them */
#define FC_CHECK(expr, what) \
    ".if " expr "\n\t" \
    ".error \"fully_connected_s8: " what " size\"\n\t" \
    ".endif\n\t"
#define FC_LAYER(V) \
    __asm__ volatile( \
        "ldr r10, %[out]\n\t" \
        "0:\n\t" \
        "ldrd r4, lr, %[bias_d]\n\t" \
        "add r4, r4, r10, lsl #2\n\t" \
        "ldm r4, {r0-r3}\n\t" \
        "str r10, %[out]\n\t" \
        "ldr.w r4, %[start]\n\t" \
        "add pc, r4\n\t"           /* reads pc as this instruction + 4: label 5 */ \
        "nop\n\t" \
        "5:\n\t" \
        FC_ODD_##V \
        "b.w 7f\n\t" \
        "8:\n\t" \
        FC_PAIR_##V \
        "7:\n\t" \
        "ldr.w r4, %[entry]\n\t" \
        "add pc, r4\n\t"           /* label 2 */ \
        "nop\n\t" \
        "2:\n\t" \
        FC_TRIPLE(FC_LD_##V) FC_TRIPLE(FC_LD_##V) FC_TRIPLE(FC_LD_##V) FC_TRIPLE(FC_LD_##V) \
        FC_TRIPLE(FC_LD_##V) FC_TRIPLE(FC_LD_##V) FC_TRIPLE(FC_LD_##V) FC_TRIPLE(FC_LD_##V) \
        FC_TRIPLE(FC_LD_##V) FC_TRIPLE(FC_LD_##V) FC_TRIPLE(FC_LD_##V) \
        "6:\n\t" \
        FC_CHECK("(6b - 2b) - " FC_STR(FC_PASS) " * " FC_STR(FC_TRIPLE_##V##_BYTES), "three") \
        FC_CHECK("(8b - 5b) - 4 - " FC_STR(FC_ODD_##V##_BYTES), "odd group") \
        FC_CHECK("(7b - 8b) - " FC_STR(FC_PAIR_##V##_BYTES), "pair") \
        "ldr r4, %[x_end]\n\t" \
        "cmp lr, r4\n\t" \
        "bne 2b\n\t" \
        "ldrd r10, r11, %[out]\n\t" \
        "ldr r4, %[per_channel]\n\t" \
        "cbz r4, 3f\n\t" \
        "ldm r11!, {r4-r9}\n\t" \
        FC_OUT("r4", "r0", "r4", "r5", "r6") \
        FC_OUT("r7", "r1", "r7", "r8", "r9") \
        "ldm r11!, {r4-r9}\n\t" \
        FC_OUT("r4", "r2", "r4", "r5", "r6") \
        FC_OUT("r7", "r3", "r7", "r8", "r9") \
        "str r11, %[rq]\n\t" \
        "b 4f\n\t" \
        "3:\n\t" \
        "ldm r11, {r7-r9}\n\t" \
        FC_OUT("r4", "r0", "r7", "r8", "r9") \
        FC_OUT("r5", "r1", "r7", "r8", "r9") \
        FC_OUT("r6", "r2", "r7", "r8", "r9") \
        FC_OUT("r11", "r3", "r7", "r8", "r9") \
        "4:\n\t" \
        "ldr r4, %[out_end]\n\t" \
        "cmp r10, r4\n\t" \
        "bne 0b\n\t" \
        : [wp] "+r"(wp), [rq] "+m"(c.rq), [out] "+m"(c.out) \
        : [bias_d] "m"(c.bias_d), [out_end] "m"(c.out_end), [x_end] "m"(c.x_end), \
          [start] "m"(c.start), [entry] "m"(c.entry), [per_channel] "m"(c.per_channel), \
          "m"(c) /* x, read with bias_d */ \
        : "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "lr", "cc", \
          "memory")

/* an output row at least this much longer than its widened input takes it at its end: widening
 * costs about 7 instructions per group, every block that uses it saves 2 */
#define FC_TAIL_MIN 16

/* rows [0, 4 * blocks) of one input row x (int8, or widened where wide); blocks > 0 */
__attribute__((noinline)) static void fc_w16_layer(const int16_t *w, const void *x, int wide,
                                                  int32_t groups, const int32_t *bias,
                                                  const int32_t *rq, int32_t per_channel,
                                                  int8_t *out, int32_t blocks) {
    const int32_t threes = groups / 3, left = groups - 3 * threes;
    const int32_t skip = threes ? (FC_PASS - threes % FC_PASS) % FC_PASS : FC_PASS;
    const int32_t odd = wide ? FC_ODD_WIDE_BYTES : FC_ODD_S8_BYTES;
    const int32_t pair = wide ? FC_PAIR_WIDE_BYTES : FC_PAIR_S8_BYTES;
    const int32_t entry = skip * (wide ? FC_TRIPLE_WIDE_BYTES : FC_TRIPLE_S8_BYTES);
    fc_run_ctx c = {(uint32_t)(uintptr_t)bias - 4u * (uint32_t)(uintptr_t)out, x, out, rq,
                    out + 4 * blocks, (const int8_t *)x + (wide ? 8 : 4) * groups,
                    left == 1 ? 0 : left == 2 ? odd + 4 : odd + 4 + pair + 8 + entry, entry,
                    per_channel};
    register const int16_t *wp __asm__("r12") = w;
    if (wide)
        FC_LAYER(WIDE);
    else
        FC_LAYER(S8);
}
/* the input row widened: per four groups one LDM, eight SXTB16s and two STMs */
static void fc_widen(const int8_t *x, int32_t groups, int16_t *xw) {
    int32_t quads = groups >> 2;
    td_widen_groups(x, groups & 3, xw);
    x += 4 * (groups & 3);
    xw += 4 * (groups & 3);
    if (quads)
        __asm__ volatile(
            "1:\n\t"
            "ldm %[x]!, {r4-r7}\n\t"
            "sxtb16 r8, r4\n\t"
            "sxtb16 r9, r4, ror #8\n\t"
            "sxtb16 r10, r5\n\t"
            "sxtb16 r11, r5, ror #8\n\t"
            "sxtb16 r4, r6\n\t"
            "sxtb16 r5, r6, ror #8\n\t"
            "sxtb16 r6, r7\n\t"
            "sxtb16 r7, r7, ror #8\n\t"
            "stm %[xw]!, {r8-r11}\n\t"
            "stm %[xw]!, {r4-r7}\n\t"
            "subs %[q], %[q], #1\n\t"
            "bne 1b\n\t"
            : [x] "+r"(x), [xw] "+r"(xw), [q] "+r"(quads)
            :
            : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "cc", "memory");
}

/* the layers fc_w16_layer takes whole (but for the rows after the last block of four) */
static int fc_fast(const td_fc_params *p) {
    return p->bias_folded && p->layout == TD_W16 && p->rq && p->act_min == -128 &&
           p->act_max == 127 && p->in_depth >= 4 && !(p->in_depth & 3) && p->out_depth >= 4;
}

/* one input row's blocks of four rows; the number of rows done. Without scratch, the input widened
 * into the end of the output row (its own buffer, written last) serves the blocks that finish
 * before they write there. */
static int32_t fc_w16_row(const td_fc_params *p, const int8_t *row, const int16_t *w, int8_t *ob,
                          int16_t *xw) {
    const int32_t groups = p->in_depth >> 2, blocks = p->out_depth >> 2;
    const int32_t tail = p->out_depth - 8 * groups, per_channel = p->per_channel;
    int32_t first = 0;
    if (p->wide_input) {
        first = blocks;
    } else if (tail >= FC_TAIL_MIN && !((uintptr_t)(ob + tail) & 3)) {
        xw = (int16_t *)(void *)(ob + tail);
        first = tail / 4 + 1;
    }
    if (first) {
        fc_widen(row, groups, xw);
        fc_w16_layer(w, xw, 1, groups, p->bias_folded, p->rq, per_channel, ob, first);
    }
    if (first < blocks)
        fc_w16_layer(w + 16 * groups * first, row, 0, groups, p->bias_folded + 4 * first,
                     p->rq + (per_channel ? 12 * first : 0), per_channel, ob + 4 * first,
                     blocks - first);
    return 4 * blocks;
}
#endif

/* Scratch: where wide_input was granted, the input row widened (2 bytes per value of its whole
 * groups of four). */
int32_t td_fully_connected_s8_scratch(const td_fc_params *p) {
    return p->wide_input ? 2 * (p->in_depth & ~3) : 0;
}

void td_fully_connected_s8(const td_fc_params *p, const int8_t *in, const void *w,
                           const int32_t *bias, int8_t *restrict out, int8_t *scratch) {
#if defined(TD_DSP) && defined(TD_LDM_LOOPS)
    const int fast = fc_fast(p);
    if (fast && !(p->out_depth & 3)) {  /* all in fc_w16_row */
        for (int32_t b = 0; b < p->batches; ++b)
            fc_w16_row(p, in + b * p->in_depth, (const int16_t *)w, out + b * p->out_depth,
                       (int16_t *)(void *)scratch);
        return;
    }
#else
    const int fast = 0;
#endif
    const int32_t n = p->in_depth, k4 = (n + 3) & ~3, groups = n >> 2;
    const int32_t *rq = p->rq, lo = p->act_min, hi = p->act_max, sat8 = lo == -128 && hi == 127;
    const int layout = p->layout, per_channel = p->per_channel;
    const int wide_input = p->wide_input && layout == TD_W16 && groups;
    int16_t *xw = (int16_t *)(void *)scratch;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *row = in + b * n;
        int8_t *ob = out + b * p->out_depth;
        if (p->bias_folded) {
            int32_t o = 0;
#if defined(TD_DSP) && defined(TD_LDM_LOOPS)
            if (fast)  /* widens the row where wide_input */
                o = fc_w16_row(p, row, (const int16_t *)w, ob, xw);
#endif
            if (wide_input && !fast)
                td_widen_groups(row, groups, xw);
            for (; o < p->out_depth; o += 4) {
                int32_t acc[4] = {p->bias_folded[o], p->bias_folded[o + 1], p->bias_folded[o + 2],
                                  p->bias_folded[o + 3]};
                const int16_t *w16 = (const int16_t *)w + o * k4;
                const int8_t *w8 = (const int8_t *)w + o * k4;
                if (layout == TD_ROWS) {
                    td_dot_rows_4x1(w8, k4, row, n, acc);
                } else {
                    if (wide_input)
                        td_mm_4x1_w16x(w16, xw, groups, acc);
                    else if (groups && layout == TD_W16)
                        td_mm_4x1_w16(w16, row, groups, acc);
                    else if (groups)
                        td_mm_4x1_w8(w8, row, groups, acc);
                    if (n & 3)
                        fc_tail(layout == TD_W16 ? (const void *)(w16 + 16 * groups)
                                                 : (const void *)(w8 + 16 * groups),
                                layout, row + 4 * groups, n & 3, acc);
                }
                if (rq && o + 4 <= p->out_depth) {  /* fast records, a whole block */
                    const int32_t *r0 = rq + (per_channel ? 3 * o : 0), step = per_channel ? 3 : 0;
                    if (sat8)
                        for (int j = 0; j < 4; ++j, r0 += step)
                            ob[o + j] = (int8_t)td_sat8(td_requant_fc(r0, acc[j]));
                    else
                        for (int j = 0; j < 4; ++j, r0 += step)
                            ob[o + j] = (int8_t)td_clamp(td_requant_fc(r0, acc[j]), lo, hi);
                } else {
                    for (int32_t j = 0; j < 4 && o + j < p->out_depth; ++j)
                        ob[o + j] = fc_out(p, acc[j], o + j);
                }
            }
            continue;
        }
        for (int32_t o = 0; o < p->out_depth; ++o) {
            const int8_t *wr = (const int8_t *)w + o * n;
            int32_t acc = bias ? bias[o] : 0;
            for (int32_t d = 0; d < n; ++d)
                acc += ((int32_t)wr[d] + p->filter_offset) * ((int32_t)row[d] + p->input_offset);
            ob[o] = fc_out(p, acc, o);
        }
    }
}
