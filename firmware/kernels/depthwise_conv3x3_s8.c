/* DEPTHWISE_CONV_2D with a 3x3 kernel, stride 1, no dilation, depth multiplier 1, a multiple of
 * four channels and fast requantization records: two taps per SMLAD.
 *
 * Input rows are widened in pairs: pair row i holds the padded rows 2i and 2i + 1 as the int16
 * halves of one word per column and channel, ordered [channel pair][column][channel] so that one
 * pair of channels finds its columns one after another. Columns and rows outside the input hold
 * the input zero point, which the folded bias cancels. Output rows 2i and 2i + 1 of channels c and
 * c + 1 are, per kernel column,
 *   out(2i) = P_i . A + P_i+1 . B,  out(2i + 1) = P_i . C + P_i+1 . D,
 * with A = (w0, w1), B = (w2, 0), C = (0, w0), D = (w1, w2) down the column: per kernel column two
 * LDRDs of input, four of weights and eight SMLADs for twelve multiply-accumulates. Weights,
 * folded biases (both doubled, so the sums are the doubled accumulators td_requant2 takes) and
 * records come in one block of 32 words per channel pair (weight_layout.depthwise_3x3_blocks).
 * Two pair rows (a ring) are live at a time. Input rows up to 2i + 3 - pad_h are widened before
 * output rows 2i and 2i + 1 are written, so with pad_h = 1 the output may overwrite the input. Scratch: 2 pair rows of out_w + 2 columns,
 * 4 * channels bytes per column, then a pixel of zero points. */
#include "td_kernels.h"
#include "td_matmul.h"
#include "td_quant.h"

#define BLOCK_WORDS 32  /* 3 kernel columns x 8 weight words, 2 folded biases, 2 records */
#define BIAS 24
#define RECORDS 26

/* Pair row q (padded rows 2q and 2q + 1) into `slot`: `cols` padded columns, input column
 * ix = column - pad_w; a row or column outside the input reads the zero point pixel zp. */
static void pack_pair_row(const td_conv_params *p, const int8_t *in, int q, int32_t cols,
                          const int8_t *zp, int32_t *slot) {
    const int32_t c_n = p->out_c, in_w = p->in_w, row = in_w * c_n;
    const int ya = 2 * q - p->pad_h, yb = ya + 1;
    const int8_t *ra = ya >= 0 && ya < p->in_h ? in + ya * row : 0;
    const int8_t *rb = yb >= 0 && yb < p->in_h ? in + yb * row : 0;
    const int32_t group = 2 * cols;  /* words from one channel pair to the next */
    for (int32_t col = 0; col < cols; ++col) {
        const int32_t ix = col - p->pad_w, inside = ix >= 0 && ix < in_w;
        const int8_t *pa = ra && inside ? ra + ix * c_n : zp;
        const int8_t *pb = rb && inside ? rb + ix * c_n : zp;
        int32_t *d = slot + 2 * col;
        /* four channels of both rows: (a0, b0) (a1, b1) for channels c, c + 1, then
         * (a2, b2) (a3, b3) for the next pair */
        for (int32_t c = 0; c < c_n; c += 4, pa += 4, pb += 4, d += 2 * group) {
            const int32_t va = td_ld32(pa), vb = td_ld32(pb);
            const int32_t ae = td_sxtb16(va), ao = td_sxtb16_hi(va);
            const int32_t be = td_sxtb16(vb), bo = td_sxtb16_hi(vb);
            d[0] = td_pack_bottoms(ae, be);
            d[1] = td_pack_bottoms(ao, bo);
            d[group] = td_pack_tops(ae, be);
            d[group + 1] = td_pack_tops(ao, bo);
        }
    }
}

/* acc (row 2i: c, c + 1; row 2i + 1: c, c + 1) += the three kernel columns of block b, with t and
 * u at the first column of pair rows i and i + 1; both move on by one column. */
#ifdef TD_DSP
#define DW3_COL(AT, AU, OFF)                                                                     \
    "ldrd %[d0], %[d1], " AT "\n\t"                                                              \
    "ldrd %[v0], %[v1], [%[wp], #" OFF "]\n\t"                                                   \
    "smlad %[a00], %[d0], %[v0], %[a00]\n\t"                                                     \
    "smlad %[a01], %[d1], %[v1], %[a01]\n\t"                                                     \
    "ldrd %[v0], %[v1], [%[wp], #" OFF " + 8]\n\t"                                               \
    "smlad %[a10], %[d0], %[v0], %[a10]\n\t"                                                     \
    "smlad %[a11], %[d1], %[v1], %[a11]\n\t"                                                     \
    "ldrd %[d0], %[d1], " AU "\n\t"                                                              \
    "ldrd %[v0], %[v1], [%[wp], #" OFF " + 16]\n\t"                                              \
    "smlad %[a00], %[d0], %[v0], %[a00]\n\t"                                                     \
    "smlad %[a01], %[d1], %[v1], %[a01]\n\t"                                                     \
    "ldrd %[v0], %[v1], [%[wp], #" OFF " + 24]\n\t"                                              \
    "smlad %[a10], %[d0], %[v0], %[a10]\n\t"                                                     \
    "smlad %[a11], %[d1], %[v1], %[a11]\n\t"
/* the middle column's loads step both pointers on by a column (pre-index write-back) */
#define DW3_BLOCK(t, u, b, a00, a01, a10, a11)                                                   \
    do {                                                                                         \
        int32_t d0_, d1_, v0_, v1_;                                                              \
        __asm__(DW3_COL("[%[t]]", "[%[u]]", "0")                                                 \
                DW3_COL("[%[t], #8]!", "[%[u], #8]!", "32")                                      \
                DW3_COL("[%[t], #8]", "[%[u], #8]", "64")                                        \
                : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),           \
                  [t] "+r"(t), [u] "+r"(u), [d0] "=&r"(d0_), [d1] "=&r"(d1_), [v0] "=&r"(v0_),  \
                  [v1] "=&r"(v1_)                                                                \
                : [wp] "r"(b) : "memory");                                                       \
    } while (0)
#else
#define DW3_BLOCK(t, u, b, a00, a01, a10, a11)                                                   \
    do {                                                                                         \
        for (int k_ = 0; k_ < 3; ++k_) {                                                         \
            const int32_t *w_ = (b) + 8 * k_, *x_ = (t) + 2 * k_, *y_ = (u) + 2 * k_;            \
            a00 = td_smlad(x_[0], w_[0], td_smlad(y_[0], w_[4], a00));                           \
            a01 = td_smlad(x_[1], w_[1], td_smlad(y_[1], w_[5], a01));                           \
            a10 = td_smlad(x_[0], w_[2], td_smlad(y_[0], w_[6], a10));                           \
            a11 = td_smlad(x_[1], w_[3], td_smlad(y_[1], w_[7], a11));                           \
        }                                                                                        \
        t += 2;                                                                                  \
        u += 2;                                                                                  \
    } while (0)
#endif

/* A doubled accumulator to int8 with the record {m, e, k}; sat8: the clamp is all of int8. */
#define DW3_OUT(m, e, k, acc2)                                                                   \
    (int8_t)(sat8 ? td_sat8(td_requant2(m, e, k, acc2))                                          \
                  : td_clamp(td_requant2(m, e, k, acc2), lo, hi))

/* Output rows oy and (when `both`) oy + 1 of channel pair (c, c + 1), whose block is b: t and u at
 * the pair's first column in pair rows i and i + 1, o at (oy, 0, c). */
static TD_ALWAYS_INLINE void dw3_channels(const int32_t *t, const int32_t *u, const int32_t *b,
                                          int8_t *o, int32_t c_n, int32_t out_w, int both,
                                          int32_t lo, int32_t hi, int sat8) {
    const int32_t next_row = out_w * c_n;
    const int32_t *r = b + RECORDS;
    for (int32_t ox = 0; ox < out_w; ++ox, o += c_n) {
        int32_t a00 = b[BIAS], a01 = b[BIAS + 1], a10 = a00, a11 = a01;
        DW3_BLOCK(t, u, b, a00, a01, a10, a11);
        const int32_t m0 = r[0], e0 = r[1], k0 = r[2], m1 = r[3], e1 = r[4], k1 = r[5];
        o[0] = DW3_OUT(m0, e0, k0, a00);
        o[1] = DW3_OUT(m1, e1, k1, a01);
        if (both) {
            o[next_row] = DW3_OUT(m0, e0, k0, a10);
            o[next_row + 1] = DW3_OUT(m1, e1, k1, a11);
        }
    }
}

/* Scratch: two rows of vertical pixel pairs (4 bytes per channel and padded column), then a row
 * of zero points. */
int32_t td_depthwise_conv3x3_s8_scratch(const td_conv_params *p) {
    return 2 * 4 * (p->out_w + 2) * p->out_c + p->out_c;
}

void td_depthwise_conv3x3_s8(const td_conv_params *p, const int8_t *in, const void *w,
                             const int32_t *bias, int8_t *out, int8_t *scratch) {
    (void)bias;
    const int32_t c_n = p->out_c, out_w = p->out_w, out_h = p->out_h;
    const int32_t cols = out_w + 2, pair_row = cols * c_n;  /* words */
    const int32_t lo = p->act_min, hi = p->act_max;
    const int32_t *blocks = (const int32_t *)w;
    int32_t *const ring = (int32_t *)(void *)scratch;
    int8_t *const zp = scratch + 2 * 4 * pair_row;
    for (int32_t c = 0; c < c_n; ++c) zp[c] = (int8_t)(-p->input_offset);
    pack_pair_row(p, in, 0, cols, zp, ring);
    for (int oy = 0; oy < out_h; oy += 2) {
        const int i = oy / 2, both = oy + 1 < out_h;
        const int32_t *pi = ring + (i & 1) * pair_row;
        int32_t *pn = ring + ((i + 1) & 1) * pair_row;
        pack_pair_row(p, in, i + 1, cols, zp, pn);
        int8_t *o = out + (int32_t)oy * out_w * c_n;
        for (int32_t g = 0; g < c_n / 2; ++g) {
            const int32_t at = g * 2 * cols;
            const int32_t *b = blocks + g * BLOCK_WORDS;
            /* constant flags: each combination gets its own loop */
            if (lo == -128 && hi == 127 && both)
                dw3_channels(pi + at, pn + at, b, o + 2 * g, c_n, out_w, 1, lo, hi, 1);
            else if (both)
                dw3_channels(pi + at, pn + at, b, o + 2 * g, c_n, out_w, 1, lo, hi, 0);
            else
                dw3_channels(pi + at, pn + at, b, o + 2 * g, c_n, out_w, 0, lo, hi, 0);
        }
    }
}
