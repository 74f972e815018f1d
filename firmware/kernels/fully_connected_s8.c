/* FULLY_CONNECTED, int8, weights [out_depth, in_depth], per-tensor or per-channel scales.
 * With symmetric weights (filter_offset 0, TFLite's int8 rule) the input offset is folded into
 * the bias and four output rows share every input load (weights in a td_matmul.h layout: int8 or
 * pre-widened blocks, or plain rows for Helium). With pre-widened weights the input row is widened
 * once into the scratch where the memory plan left room for it (p->wide_input); elsewhere the
 * assembly path widens the row's last groups into the end of the layer's own output row. */
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
 * output pointer between blocks; the rest lives in a frame the block pushes (fc_run_ctx), read by
 * LDM and LDRD from sp.
 * A row's first groups take the int8 input (each word widened by two SXTB16s), its last ones an
 * input widened beforehand; either part may be empty. Each part runs its groups in threes
 * (FC_TRIPLE: per group one load of its input, per 48 MACs four LDMs of six weight words, 31
 * instructions where pairs of groups would take 31.5), FC_PASS threes per pass of its loop, after
 * the one or two groups left over (FC_ODD, FC_PAIR). A block starts with a branch to `start` (an
 * address) in its first part: to the odd group or the pair just before the pass when the threes
 * fill whole passes, else to a copy of them that ends with a computed branch (`entry` bytes into
 * the pass), or straight into the pass. After the int8 part a computed branch (`start_w`) enters
 * the widened part the same way, or goes to its loop's end. The biases' address is
 * bias_d + 4 * out (one ADD, no pointer to store). The last part's loop ends at its x_end less
 * per_channel: the flags the last compare leaves tell the requantization which records to read
 * (a per-tensor record is in the frame, read with x_end and out). */
typedef struct {
    const void *x_end;             /* the last part's end, less per_channel */
    int32_t rec[3];                /* per tensor: the record */
    int8_t *out;                   /* advanced per block */
    uint32_t bias_d;               /* bias address - 4 * out address (mod 2^32) */
    int32_t start;                 /* bytes from the int8 part's start; made an address */
    int8_t *out_end;
    const void *x;                 /* the row's first part */
    const int32_t *rq;             /* per channel: advanced per block */
    const void *xs_end;            /* the int8 part's end, less per_channel */
    const void *xw;                /* the widened part's input */
    int32_t start_w, entry_s, entry_w;
} fc_run_ctx;

#define FC_STR_(v) #v
#define FC_STR(v) FC_STR_(v)
#define FC_PASS 10
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
#define FC_LD_W "ldrd r4, r5, [lr], #8\n\t"
#define FC_ODD_W FC_LD_W FC_ROWS("r4", "r5")
#define FC_ODD_W_BYTES 44
#define FC_PAIR_W "ldm.w lr!, {r4-r7}\n\t" FC_ROWS("r4", "r5") FC_ROWS("r6", "r7")
#define FC_PAIR_W_BYTES 84
#define FC_TRIPLE_W_BYTES 124
/* int8 input: each word widened by two SXTB16s */
#define FC_LD_S \
    "ldr.w r5, [lr], #4\n\t" \
    "sxtb16 r4, r5\n\t" \
    "sxtb16 r5, r5, ror #8\n\t"
#define FC_ODD_S FC_LD_S FC_ROWS("r4", "r5")
#define FC_ODD_S_BYTES 52
#define FC_PAIR_S \
    "ldm.w lr!, {r5, r7}\n\t" \
    "sxtb16 r4, r5\n\t" \
    "sxtb16 r5, r5, ror #8\n\t" \
    "sxtb16 r6, r7\n\t" \
    "sxtb16 r7, r7, ror #8\n\t" FC_ROWS("r4", "r5") FC_ROWS("r6", "r7")
#define FC_PAIR_S_BYTES 100
#define FC_TRIPLE_S_BYTES 148
/* a part's byte counts from its start: to its pass, and to the end of its loop */
#define FC_PASS_AT(V) (2 * FC_ODD_##V##_BYTES + 2 * FC_PAIR_##V##_BYTES + 16)
#define FC_PART_BYTES(V) (FC_PASS_AT(V) + FC_PASS * FC_TRIPLE_##V##_BYTES + 12)
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
/* one part, V: S (int8) or W (widened); labels a its start, b its pass; entry the frame offset of
 * its entry, test its loop's compare (TEST: the end in r4) */
#define FC_PART(V, a, b, entry, TEST) \
    a ":\n\t" \
    FC_ODD_##V \
    "b.w 7f\n\t" \
    FC_PAIR_##V \
    "7:\n\t" \
    "ldr.w r4, [sp, #" entry "]\n\t" \
    "add pc, r4\n\t"           /* reads pc as this instruction + 4: label 8 */ \
    "nop\n\t" \
    "8:\n\t" \
    FC_ODD_##V \
    "b.w " b "f\n\t" \
    FC_PAIR_##V \
    b ":\n\t" \
    FC_TRIPLE(FC_LD_##V) FC_TRIPLE(FC_LD_##V) FC_TRIPLE(FC_LD_##V) FC_TRIPLE(FC_LD_##V) \
    FC_TRIPLE(FC_LD_##V) FC_TRIPLE(FC_LD_##V) FC_TRIPLE(FC_LD_##V) FC_TRIPLE(FC_LD_##V) \
    FC_TRIPLE(FC_LD_##V) FC_TRIPLE(FC_LD_##V) \
    TEST \
    "cmp.w lr, r4\n\t" \
    "blo.w " b "b\n\t" \
    "6:\n\t" \
    FC_CHECK("(6b - " a "b) - " FC_STR(FC_PART_BYTES(V)), "part") \
    FC_CHECK("(" b "b - " a "b) - " FC_STR(FC_PASS_AT(V)), "pass") \
    FC_CHECK("(8b - " a "b) - 12 - (" FC_STR(FC_ODD_##V##_BYTES + FC_PAIR_##V##_BYTES) ")", \
             "entry")
/* the next block: end at out_end, else load its biases, save out, go to start */
#define FC_NEXT \
    "ldrd r6, lr, [sp, #28]\n\t" \
    "cmp r10, r6\n\t" \
    "beq.w 10f\n\t" \
    "ldrd r4, r5, [sp, #20]\n\t" \
    "add r4, r4, r10, lsl #2\n\t" \
    "ldm r4, {r0-r3}\n\t" \
    "str r10, [sp, #16]\n\t" \
    "mov pc, r5\n\t"
#define FC_LAYER \
    __asm__ volatile( \
        "sub sp, #60\n\t" \
        "ldm r0!, {r1-r8}\n\t" \
        "stm sp, {r1-r8}\n\t" \
        "ldm r0, {r1-r7}\n\t" \
        "add r8, sp, #32\n\t" \
        "stm r8, {r1-r7}\n\t" \
        "adr r4, 1f\n\t" \
        "ldr r5, [sp, #24]\n\t" \
        "add r5, r4\n\t" \
        "str r5, [sp, #24]\n\t" \
        "ldr r10, [sp, #16]\n\t" \
        FC_NEXT \
        ".p2align 2\n\t" \
        FC_PART(S, "1", "2", "52", "ldr.w r4, [sp, #40]\n\t") \
        "ldrd lr, r4, [sp, #44]\n\t" \
        "add pc, r4\n\t"           /* label 5 */ \
        "nop\n\t" \
        FC_PART(W, "5", "9", "56", "ldm.w sp, {r4, r7-r10}\n\t") \
        "bne 3f\n\t"               /* per channel */ \
        FC_OUT("r4", "r0", "r7", "r8", "r9") \
        FC_OUT("r5", "r1", "r7", "r8", "r9") \
        FC_OUT("r6", "r2", "r7", "r8", "r9") \
        FC_OUT("r11", "r3", "r7", "r8", "r9") \
        FC_NEXT \
        "3:\n\t" \
        "ldr r11, [sp, #36]\n\t" \
        "ldm r11!, {r4-r9}\n\t" \
        FC_OUT("r4", "r0", "r4", "r5", "r6") \
        FC_OUT("r7", "r1", "r7", "r8", "r9") \
        "ldm r11!, {r4-r9}\n\t" \
        FC_OUT("r4", "r2", "r4", "r5", "r6") \
        FC_OUT("r7", "r3", "r7", "r8", "r9") \
        "str r11, [sp, #36]\n\t" \
        FC_NEXT \
        "10:\n\t" \
        "add sp, #60\n\t" \
        : [wp] "+r"(wp), [c] "+r"(cp) \
        : "m"(c) \
        : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "lr", "cc", \
          "memory")

/* a part's branch targets for n groups, odd, pair and triple its code's sizes: *entry bytes into
 * the pass from the end of the computed branch before it, the return value bytes from the
 * part's start */
static int32_t fc_part_start(int32_t n, int32_t odd, int32_t pair, int32_t triple,
                             int32_t *entry) {
    const int32_t threes = n / 3, left = n - 3 * threes;
    const int32_t skip = threes ? (FC_PASS - threes % FC_PASS) % FC_PASS : FC_PASS;
    const int32_t pass = 2 * odd + 2 * pair + 16;
    *entry = odd + 4 + pair + triple * skip;
    if (left == 0) return pass + triple * skip;
    if (skip) return left == 1 ? 0 : odd + 4;
    return left == 1 ? odd + pair + 12 : 2 * odd + pair + 16;
}

/* rows [0, 4 * blocks) of one input row: its first ns groups int8 at x, the other nw widened at
 * xw; blocks > 0 */
__attribute__((noinline)) static void fc_w16_layer(const int16_t *w, const int8_t *x, int32_t ns,
                                                  const int16_t *xw, int32_t nw,
                                                  const int32_t *bias, const int32_t *rq,
                                                  int32_t per_channel, int8_t *out,
                                                  int32_t blocks) {
    fc_run_ctx c;
    if (!nw)  /* the widened part's loop compares lr, its start, with its end less per_channel */
        xw = (const int16_t *)(const void *)(x + 4 * ns);
    const int32_t start_s = fc_part_start(ns, FC_ODD_S_BYTES, FC_PAIR_S_BYTES, FC_TRIPLE_S_BYTES,
                                          &c.entry_s);
    const int32_t start_w = fc_part_start(nw, FC_ODD_W_BYTES, FC_PAIR_W_BYTES, FC_TRIPLE_W_BYTES,
                                          &c.entry_w);
    c.x_end = (const int8_t *)xw + 8 * nw - per_channel;
    c.rec[0] = rq[0];
    c.rec[1] = rq[1];
    c.rec[2] = rq[2];
    c.out = out;
    c.bias_d = (uint32_t)(uintptr_t)bias - 4u * (uint32_t)(uintptr_t)out;
    c.out_end = out + 4 * blocks;
    c.rq = rq;
    c.xs_end = x + 4 * ns - per_channel;
    c.xw = xw;
    if (ns) {
        c.x = x;
        c.start = start_s;
        c.start_w = nw ? start_w : FC_PART_BYTES(W) - 12;  /* the loop's compare */
    } else {  /* straight into the widened part */
        c.x = xw;
        c.start = FC_PART_BYTES(S) + 8 + start_w;
        c.start_w = 0;
    }
    register const int16_t *wp __asm__("r12") = w;
    register fc_run_ctx *cp __asm__("r0") = &c;
    FC_LAYER;
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
static inline __attribute__((always_inline)) int fc_fast(const td_fc_params *p) {
    return p->bias_folded && p->layout == TD_W16 && p->rq && p->act_min == -128 &&
           p->act_max == 127 && p->in_depth >= 4 && !(p->in_depth & 3) && p->out_depth >= 4;
}

/* the fewest widened groups worth a part of their own (they save 2 instructions each per block,
 * the second part's branches and left-over groups cost about 10; on mlperf/ad01 a part of 4
 * loses) and the fewest blocks worth widening for */
#define FC_WIDE_MIN 6
#define FC_TAIL_BLOCKS 4

/* one input row's blocks of four rows; the number of rows done. Without scratch, the row's last
 * groups, widened into the end of the output row (its own buffer, written last), serve the blocks
 * that finish before they write there: as many as fit with FC_TAIL_BLOCKS blocks before them,
 * then half as many for the blocks up to their start, and so on. */
static int32_t fc_w16_row(const td_fc_params *p, const int8_t *row, const int16_t *w, int8_t *ob,
                          int16_t *xw) {
    const int32_t groups = p->in_depth >> 2, blocks = p->out_depth >> 2;
    const int32_t per_channel = p->per_channel;
    int32_t nw = groups, done = 0;
    if (p->wide_input) {
        fc_widen(row, groups, xw);
        fc_w16_layer(w, row, 0, xw, groups, p->bias_folded, p->rq, per_channel, ob, blocks);
        return 4 * blocks;
    }
    if ((p->out_depth - 4 * FC_TAIL_BLOCKS) / 8 < nw)
        nw = (p->out_depth - 4 * FC_TAIL_BLOCKS) / 8;
    if (nw < FC_WIDE_MIN || ((uintptr_t)ob & 3) || (p->out_depth & 3))
        nw = 0;
    else
        fc_widen(row + 4 * (groups - nw), nw, (int16_t *)(void *)(ob + p->out_depth - 8 * nw));
    for (; nw >= FC_WIDE_MIN && done < blocks; nw >>= 1) {
        const int32_t at = p->out_depth - 8 * nw, end = at / 4 + 1 < blocks ? at / 4 + 1 : blocks;
        if (end > done)
            fc_w16_layer(w + 16 * groups * done, row, groups - nw, (const int16_t *)(ob + at), nw,
                         p->bias_folded + 4 * done, p->rq + (per_channel ? 12 * done : 0),
                         per_channel, ob + 4 * done, end - done);
        done = done > end ? done : end;
    }
    if (done < blocks)
        fc_w16_layer(w + 16 * groups * done, row, groups, 0, 0, p->bias_folded + 4 * done,
                     p->rq + (per_channel ? 12 * done : 0), per_channel, ob + 4 * done,
                     blocks - done);
    return 4 * blocks;
}
#endif

/* Scratch: where wide_input was granted, the input row widened (2 bytes per value of its whole
 * groups of four). */
int32_t td_fully_connected_s8_scratch(const td_fc_params *p) {
    return p->wide_input ? 2 * (p->in_depth & ~3) : 0;
}

/* every layer but those fc_w16_row takes whole */
__attribute__((noinline)) static void fc_general(const td_fc_params *p, const int8_t *in,
                                                const void *w, const int32_t *bias,
                                                int8_t *restrict out, int8_t *scratch) {
#if defined(TD_DSP) && defined(TD_LDM_LOOPS)
    const int fast = fc_fast(p);
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

void td_fully_connected_s8(const td_fc_params *p, const int8_t *in, const void *w,
                           const int32_t *bias, int8_t *restrict out, int8_t *scratch) {
#if defined(TD_DSP) && defined(TD_LDM_LOOPS)
    if (fc_fast(p) && !(p->out_depth & 3)) {
        for (int32_t b = 0; b < p->batches; ++b)
            fc_w16_row(p, in + b * p->in_depth, (const int16_t *)w, out + b * p->out_depth,
                       (int16_t *)(void *)scratch);
        return;
    }
#endif
    fc_general(p, in, w, bias, out, scratch);
}
