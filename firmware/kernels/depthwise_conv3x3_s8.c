/* DEPTHWISE_CONV_2D with a 3x3 kernel, stride 1, no dilation, depth multiplier 1, a multiple of
 * four channels and fast requantization records: vertical tap pairs, one channel at a time.
 *
 * Input rows are widened in pairs: pair row q holds the padded rows 2q and 2q + 1 as the int16
 * halves of one word per column and channel. Two pair rows are live at a time, q in slot q & 1,
 * ordered [channel][column][slot] so that one channel finds both live pair rows of a column in
 * two neighbouring words and its columns one after another. Columns and rows outside the input
 * hold the input zero point, which the folded bias cancels. With P_i and P_i+1 the pair rows of a
 * kernel column and E = (w0, w1), F = (w1, w2) its taps down the column, output rows 2i and
 * 2i + 1 are
 *   out(2i) = P_i . E + bottom(P_i+1) * top(F),  out(2i + 1) = top(P_i) * bottom(E) + P_i+1 . F:
 * per kernel column two words of weights and four multiplies (SMLAD, SMLABT, SMLATB, SMLAD) for
 * six taps. Record, weights and folded bias (weights and bias doubled, so the sums are the
 * doubled accumulators td_requant2 takes) come in one block of 10 words per channel
 * (weight_layout.depthwise_3x3_blocks).
 *
 * Input rows up to 2i + 3 - pad_h are widened before output rows 2i and 2i + 1 are written, so
 * with pad_h = 1 the output may overwrite the input. Scratch: 2 pair rows of out_w + 2 columns,
 * 4 * channels bytes per column. */
#include "td_kernels.h"
#include "td_matmul.h"
#include "td_quant.h"

#define BLOCK_WORDS 10  /* record {m, e, k}, E and F per kernel column, folded bias */

/* Four channels of rows a and b, va and vb, to the pairs (a0, b0), (a1, b1), (a2, b2), (a3, b3) at
 * d and 1, 2, 3 planes on: PKHBT and PKHTB put the bytes of both rows side by side, (a0 a1 b0 b1)
 * and (a2 a3 b2 b3), which two SXTB16s each widen. */
static TD_ALWAYS_INLINE void pack_quad(int32_t va, int32_t vb, int32_t *d, int32_t plane) {
    const int32_t lo = td_pack_bottoms(va, vb), hi = td_pack_tops(va, vb);
    d[0] = td_sxtb16(lo);
    d[plane] = td_sxtb16_hi(lo);
    d[2 * plane] = td_sxtb16(hi);
    d[3 * plane] = td_sxtb16_hi(hi);
}

/* Columns of input pixels from src (`n` columns of c_n channels) to pair words from d on: both
 * rows from src and src + row (rows = 3), or one of them (rows = 1: the top one, rows = 2: the
 * bottom one) beside zero points. */
static TD_ALWAYS_INLINE void pack_columns(const int8_t *src, int32_t row, int32_t n, int32_t c_n,
                                          int32_t zp4, int32_t *d, int32_t plane, int rows) {
    for (int32_t col = 0; col < n; ++col, d += 2 - c_n * plane)
        for (const int8_t *e = src + c_n; src != e; src += 4, d += 4 * plane)
            pack_quad(rows == 2 ? zp4 : td_ld32(src),
                      rows == 3 ? td_ld32(src + row) : rows == 2 ? td_ld32(src) : zp4, d, plane);
}

/* Pair row q (padded rows 2q and 2q + 1) into its slot: `cols` padded columns, input column
 * ix = column - pad_w. Rows and columns outside the input hold the zero point; columns outside
 * it are the same in every pair row, so only pair rows 0 and 1 (one per slot) write them. */
static void pack_pair_row(const td_conv_params *p, const int8_t *in, int q, int32_t cols,
                          int32_t *ring) {
    const int32_t c_n = p->out_c, in_w = p->in_w, row = in_w * c_n, plane = 2 * cols;
    const int32_t zp = -p->input_offset, zp4 = (int32_t)((uint8_t)zp * 0x01010101u);
    const int32_t zz = (int32_t)(((uint32_t)zp << 16) | (uint16_t)zp);
    const int32_t first = p->pad_w, end = cols < first + in_w ? cols : first + in_w;
    const int ya = 2 * q - p->pad_h, yb = ya + 1;
    const int rows = (ya >= 0 && ya < p->in_h) + 2 * (yb >= 0 && yb < p->in_h);
    int32_t *const slot = ring + (q & 1);
    if (q < 2 || rows == 0)
        for (int32_t col = 0; col < cols; ++col)
            if (col < first || col >= end || rows == 0)
                for (int32_t *d = slot + 2 * col, *e = d + c_n * plane; d != e; d += 4 * plane)
                    d[0] = d[plane] = d[2 * plane] = d[3 * plane] = zz;
    if (rows == 0) return;
    const int8_t *src = in + (rows == 2 ? yb : ya) * row;
    int32_t *d = slot + 2 * first;
    if (rows == 3)
        pack_columns(src, row, end - first, c_n, zp4, d, plane, 3);
    else if (rows == 2)
        pack_columns(src, row, end - first, c_n, zp4, d, plane, 2);
    else
        pack_columns(src, row, end - first, c_n, zp4, d, plane, 1);
}

#if defined(TD_DSP) && defined(TD_LDM_LOOPS)
/* Output rows 2i and 2i + 1 of every channel in one asm block, every register pinned. A channel's
 * record and weights go to a stack frame beside s (output row 2i + 1 less row 2i, 0 for a lone
 * row: its stores come first and row 2i's overwrite them), cn (the channel count: one output
 * column) and the end of its column loop; the layer's constants follow. Frame (72 bytes, sp
 * stays 8-byte aligned): s cn end m e k E0 F0 E1 F1 E2 F2 | in_skip out_skip span blocks_end
 * block. The column loop runs while the input is below its end, span - 8 bytes on for an odd
 * width, so that the last compare also tells whether one column is left. The bias stays in r12,
 * the input in r10 (X and Y: a column's slots 0 and 1, P_i and P_i+1 or the other way round as i
 * is even or odd), the output in r11. A pass makes output columns ox and ox + 1 (accumulators r0 lr
 * and r1 r2) from input columns ox to ox + 3: two LDMs of two columns each (the second once
 * column ox + 1 is done with), one LDRD for each kernel column's weights, 24 multiplies, one LDM
 * of the frame, then per output SMMLAR, ADD, ASR, SSAT, STRB (td_requant2): 54 instructions for
 * four outputs. An odd width ends with one column; then the next channel (16 instructions a
 * channel beside the passes). */
#define DW3_FIRST(T, U, A, B)                                                                    \
    "smlad " T ", " A ", r5, r12\n\t"                                                            \
    "smlatb " U ", " A ", r5, r12\n\t"                                                           \
    "smlabt " T ", " B ", r6, " T "\n\t"                                                         \
    "smlad " U ", " B ", r6, " U "\n\t"
#define DW3_NEXT(T, U, A, B)                                                                     \
    "smlad " T ", " A ", r5, " T "\n\t"                                                          \
    "smlatb " U ", " A ", r5, " U "\n\t"                                                         \
    "smlabt " T ", " B ", r6, " T "\n\t"                                                         \
    "smlad " U ", " B ", r6, " U "\n\t"
#define DW3_OUT(T, A)                                                                            \
    "smmlar " T ", " A ", r6, r8\n\t"                                                            \
    "add " T ", " T ", " A ", asr #31\n\t"                                                       \
    "asr " T ", " T ", r7\n\t"                                                                   \
    "ssat " T ", #8, " T "\n\t"
#define DW3_ASM(X0, Y0, X1, Y1, X2, Y2)                                                          \
    __asm__ volatile(                                                                            \
        "sub sp, sp, #72\n\t"                                                                    \
        "strd r8, r9, [sp]\n\t"                                                                  \
        "add r0, sp, #48\n\t"                                                                    \
        "stm r0, {r1, r2, r3, r4, r5}\n\t"                                                       \
        "mov r12, r5\n\t"                                                                        \
        "mov r2, r3\n"                                                                           \
        "4:\n\t"                                                                                 \
        "add lr, r10, r2\n\t"                                                                    \
        "ldm r12!, {r0, r1, r2, r3, r4, r5, r6, r7, r8, r9}\n\t"                                 \
        "str r12, [sp, #64]\n\t"                                                                 \
        "add r12, sp, #12\n\t"                                                                   \
        "stm r12, {r0, r1, r2, r3, r4, r5, r6, r7, r8}\n\t"                                      \
        "mov r12, r9\n\t"                                                                        \
        "str lr, [sp, #8]\n\t"                                                                   \
        "cmp r10, lr\n\t"                                                                        \
        "bhs 2f\n"                                                                               \
        "1:\n\t"                                                                                 \
        "ldm r10!, {r1, r2, r3, r4}\n\t"                                                         \
        "ldrd r5, r6, [sp, #24]\n\t"                                                             \
        DW3_FIRST("r0", "lr", X0, Y0)                                                            \
        DW3_FIRST("r1", "r2", X1, Y1)                                                            \
        "ldrd r5, r6, [sp, #32]\n\t"                                                             \
        DW3_NEXT("r0", "lr", X1, Y1)                                                             \
        "ldm r10, {r3, r4, r7, r8}\n\t"                                                          \
        DW3_NEXT("r1", "r2", X1, Y1)                                                             \
        "ldrd r5, r6, [sp, #40]\n\t"                                                             \
        DW3_NEXT("r0", "lr", X1, Y1)                                                             \
        DW3_NEXT("r1", "r2", X2, Y2)                                                             \
        "ldm sp, {r3, r4, r5, r6, r7, r8}\n\t"                                                   \
        DW3_OUT("r9", "r0")                                                                      \
        DW3_OUT("r0", "lr")                                                                      \
        "strb r0, [r11, r3]\n\t"                                                                 \
        "strb r9, [r11]\n\t"                                                                     \
        "add r11, r11, r4\n\t"                                                                   \
        DW3_OUT("r9", "r1")                                                                      \
        DW3_OUT("r0", "r2")                                                                      \
        "strb r0, [r11, r3]\n\t"                                                                 \
        "strb r9, [r11]\n\t"                                                                     \
        "add r11, r11, r4\n\t"                                                                   \
        "cmp r10, r5\n\t"                                                                        \
        "blo 1b\n"                                                                               \
        "2:\n\t"                                                                                 \
        "beq 3f\n\t"                                                                             \
        "ldm r10, {r1, r2, r3, r4, r7, r8}\n\t"                                                  \
        "ldrd r5, r6, [sp, #24]\n\t"                                                             \
        DW3_FIRST("r0", "lr", X0, Y0)                                                            \
        "ldrd r5, r6, [sp, #32]\n\t"                                                             \
        DW3_NEXT("r0", "lr", X1, Y1)                                                             \
        "ldrd r5, r6, [sp, #40]\n\t"                                                             \
        DW3_NEXT("r0", "lr", X2, Y2)                                                             \
        "ldm sp, {r3, r4, r5, r6, r7, r8}\n\t"                                                   \
        DW3_OUT("r9", "r0")                                                                      \
        DW3_OUT("r0", "lr")                                                                      \
        "strb r0, [r11, r3]\n\t"                                                                 \
        "strb r9, [r11]\n"                                                                       \
        "3:\n\t"                                                                                 \
        "add r0, sp, #48\n\t"                                                                    \
        "ldm r0, {r0, r1, r2, r3, r12}\n\t"                                                      \
        "add r10, r10, r0\n\t"                                                                   \
        "add r11, r11, r1\n\t"                                                                   \
        "cmp r12, r3\n\t"                                                                        \
        "bne 4b\n\t"                                                                             \
        "add sp, sp, #72\n\t"                                                                    \
        : "+r"(x_in), "+r"(x_out), "+r"(x_blk), "+r"(x_in_skip), "+r"(x_out_skip),              \
          "+r"(x_span), "+r"(x_blocks_end), "+r"(x_s), "+r"(x_cn)                                  \
        : : "r0", "r6", "r7", "r12", "lr", "cc", "memory")

/* Output rows 2i and 2i + 1 (s apart; s = 0: row 2i alone) of every channel, odd = i & 1. */
static TD_ALWAYS_INLINE void dw3_rows(const int32_t *ring, const int32_t *blocks, int8_t *o,
                                      int32_t c_n, int32_t out_w, int32_t s, int odd) {
    const int32_t pairs = out_w / 2;
    register const int32_t *x_in __asm__("r10") = ring;
    register int8_t *x_out __asm__("r11") = o;
    register int32_t x_in_skip __asm__("r1") = 8 * (out_w + 2) - 16 * pairs;
    register int32_t x_out_skip __asm__("r2") = 1 - 2 * pairs * c_n;
    register int32_t x_span __asm__("r3") = 16 * pairs - 8 * (out_w & 1);
    register const int32_t *x_blocks_end __asm__("r4") = blocks + c_n * BLOCK_WORDS;
    register const int32_t *x_blk __asm__("r5") = blocks;
    register int32_t x_s __asm__("r8") = s, x_cn __asm__("r9") = c_n;
    if (odd)
        DW3_ASM("r2", "r1", "r4", "r3", "r8", "r7");
    else
        DW3_ASM("r1", "r2", "r3", "r4", "r7", "r8");
}
#undef DW3_ASM
#undef DW3_OUT
#undef DW3_NEXT
#undef DW3_FIRST
#else
static inline int32_t dw3_lo(int32_t x) { return (int16_t)x; }
static inline int32_t dw3_hi(int32_t x) { return x >> 16; }

/* The same sums one output column at a time. */
static void dw3_rows(const int32_t *ring, const int32_t *blocks, int8_t *o, int32_t c_n,
                     int32_t out_w, int32_t s, int odd) {
    const int32_t plane = 2 * (out_w + 2);
    for (int32_t c = 0; c < c_n; ++c) {
        const int32_t *t = ring + c * plane + odd, *u = ring + c * plane + 1 - odd;
        const int32_t *b = blocks + c * BLOCK_WORDS;
        for (int32_t ox = 0; ox < out_w; ++ox) {
            int32_t top = b[9], bot = b[9];
            for (int k = 0; k < 3; ++k) {
                const int32_t pi = t[2 * (ox + k)], pn = u[2 * (ox + k)];
                const int32_t e = b[3 + 2 * k], f = b[4 + 2 * k];
                top = td_smlad(pi, e, top) + dw3_lo(pn) * dw3_hi(f);
                bot = td_smlad(pn, f, bot) + dw3_hi(pi) * dw3_lo(e);
            }
            int8_t *d = o + ox * c_n + c;
            d[s] = (int8_t)td_sat8(td_requant2(b[0], b[1], b[2], bot));
            d[0] = (int8_t)td_sat8(td_requant2(b[0], b[1], b[2], top));
        }
    }
}
#endif

/* Scratch: two rows of vertical pixel pairs, 4 bytes per channel and padded column. */
int32_t td_depthwise_conv3x3_s8_scratch(const td_conv_params *p) {
    return 2 * 4 * (p->out_w + 2) * p->out_c;
}

void td_depthwise_conv3x3_s8(const td_conv_params *p, const int8_t *in, const void *w,
                             const int32_t *bias, int8_t *out, int8_t *scratch) {
    (void)bias;
    const int32_t c_n = p->out_c, out_w = p->out_w, out_h = p->out_h, cols = out_w + 2;
    const int32_t lo = p->act_min, hi = p->act_max, row = out_w * c_n;
    const int32_t *blocks = (const int32_t *)w;
    int32_t *const ring = (int32_t *)(void *)scratch;
    pack_pair_row(p, in, 0, cols, ring);
    for (int oy = 0; oy < out_h; oy += 2) {
        const int both = oy + 1 < out_h;
        pack_pair_row(p, in, oy / 2 + 1, cols, ring);
        int8_t *o = out + (int32_t)oy * row;
        if (oy & 2)
            dw3_rows(ring, blocks, o, c_n, out_w, both ? row : 0, 1);
        else
            dw3_rows(ring, blocks, o, c_n, out_w, both ? row : 0, 0);
        /* the rows went out saturated to int8; a narrower activation range clamps them now */
        if (lo != -128 || hi != 127)
            for (int32_t j = 0; j < (both ? 2 * row : row); ++j)
                o[j] = (int8_t)td_clamp(o[j], lo, hi);
    }
}
