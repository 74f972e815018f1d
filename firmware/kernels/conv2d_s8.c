/* CONV_2D, int8 activations, per-channel int8 weights, int32 bias.
 * The input offset is folded into the bias at compile time, so a padded tap reads the input zero
 * point and contributes exactly nothing. Output pixels go two at a time: their windows are widened
 * to int16 once, kernel row by kernel row (td_matmul.h), and multiplied with two filter rows at a
 * time. Weights come in the layout td_matmul.h describes: rows in pairs, each kernel row padded to
 * a multiple of four values, int8 or pre-widened int16, or plain int8 rows (p->layout). Wide
 * weights with fast records come as TD_W16B blocks, one per channel pair: the doubled biases
 * (b0, b0, b1, b1), the pair's doubled wide rows, both records {m, e, k}
 * (weight_layout.conv_pair_blocks); their accumulators are doubled sums, what td_requant2 takes. */
#include <string.h>
#include "td_kernels.h"
#include "td_matmul.h"
#include "td_quant.h"

/* The inputs of one pixel pair: the pixel pair buffer of widened groups (TD_W8, TD_W16, TD_W16B),
 * or two int8 windows of n values (TD_ROWS). */
typedef struct {
    const int16_t *xq;
    const int8_t *xa, *xb;
    int32_t n;
} pixel_pair;

#if defined(TD_DSP) && defined(TD_LDM_LOOPS)
#define PAIRS_ASM 1  /* conv_pairs_sat8 exists */
#else
#define PAIRS_ASM 0
#endif

/* Words in a TD_W16B block of k4 values a row: 4 biases, the two rows (k4 words), 6 records. */
#define BLOCK_WORDS(k4) ((k4) + 10)

#if PAIRS_ASM
/* What conv_pairs_sat8 reads: a pixel pair buffer and the full channel pairs of a TD_W16B layer
 * whose clamp is the int8 range. */
typedef struct {
    const int32_t *w, *w_end;    /* the first pair's block; past the last full pair's */
    const int16_t *xq, *xq_end;  /* the pixel pair buffer: 16 bytes per group of 4 values */
    int8_t *o0;                  /* pixel 0's first output */
    int32_t o1;                  /* pixel 1's outputs: o0 + o1 */
    int32_t skip;                /* bytes of the unrolled loop the first pass skips */
} pair_job;

/* Bytes of code per group of four values in conv_pairs_sat8's loop (every instruction 32-bit) */
#ifdef TD_DUAL_ISSUE
#define PJ_GROUP_BYTES 48
#define PJ_GROUP_BYTES_S "48"
#else
#define PJ_GROUP_BYTES 40
#define PJ_GROUP_BYTES_S "40"
#endif

/* A job for the first `pairs` channel pairs of blocks blk against the pixel pair buffer xq of
 * k4 values a pixel, outputs at o0 and o0 + o1. */
static inline pair_job pair_job_for(const int32_t *blk, int32_t pairs, const int16_t *xq,
                                    int32_t k4, int8_t *o0, int32_t o1) {
    /* the first pass of the 32-fold loop leaves out the code of the groups short of 32 */
    const pair_job job = {blk, blk + pairs * BLOCK_WORDS(k4), xq, xq + 2 * k4, o0, o1,
                          PJ_GROUP_BYTES * (-(k4 >> 2) & 31)};
    return job;
}

/* Both pixels, every full channel pair of the job, in one loop of assembly with every value
 * pinned: the pixel pair's words in r0-r3, the pair of weight rows' in r4-r7 (one LDM each per
 * group of four values: 10 instructions for 16 MACs), the four accumulators in r8-r11, the
 * buffer and block pointers in r12 and lr; the rest lives on the stack. The groups are unrolled
 * 32 times; a count that is not a multiple of 32 enters the first pass part way in (each group is
 * PJ_GROUP_BYTES of code). The block pointer walks the biases (one LDM into the
 * accumulators), the rows and the records (one LDM into r0-r5); each doubled accumulator is
 * requantized (td_requant2, SSAT) in place and a pixel's two channels stored as one halfword. */
__attribute__((naked, noinline)) static void conv_pairs_sat8(const pair_job *job) {
    (void)job;
/* a group's last six SMLADs: row 1 against both pixels' even words, both rows against the odd */
#define PJ_GROUP_END                                                                             \
    "smlad r10, r5, r0, r10\n\t"                                                                 \
    "smlad r11, r5, r1, r11\n\t"                                                                 \
    "smlad r8, r6, r2, r8\n\t"                                                                   \
    "smlad r9, r6, r3, r9\n\t"                                                                   \
    "smlad r10, r7, r2, r10\n\t"                                                                 \
    "smlad r11, r7, r3, r11\n\t"
#ifdef TD_DUAL_ISSUE
/* Cortex-M7: two LDRDs per operand, each beside an SMLAD it can issue with (12 instructions and
 * about 9 cycles a group, where the LDMs below take 10 instructions and about 14 cycles there) */
#define PJ_GROUP                                                                                 \
    "ldrd r0, r1, [r12], #8\n\t"                                                                \
    "ldrd r4, r5, [lr], #8\n\t"                                                                 \
    "smlad r8, r4, r0, r8\n\t"                                                                   \
    "ldrd r2, r3, [r12], #8\n\t"                                                                \
    "smlad r9, r4, r1, r9\n\t"                                                                   \
    "ldrd r6, r7, [lr], #8\n\t" PJ_GROUP_END
#else
#define PJ_GROUP                                                                                 \
    "ldmia.w r12!, {r0, r1, r2, r3}\n\t"                                                         \
    "ldmia.w lr!, {r4, r5, r6, r7}\n\t"                                                          \
    "smlad r8, r4, r0, r8\n\t"                                                                   \
    "smlad r9, r4, r1, r9\n\t" PJ_GROUP_END
#endif
#define PJ_GROUP4 PJ_GROUP PJ_GROUP PJ_GROUP PJ_GROUP
/* a doubled accumulator to int8 in its own register, with the record {m, e, k} in registers */
#define PJ_OUT(acc, m, e, k)                                                                     \
    "smmlar r6, " acc ", " m ", " k "\n\t"                                                       \
    "add " acc ", r6, " acc ", asr #31\n\t"                                                      \
    "asr " acc ", " acc ", " e "\n\t"                                                            \
    "ssat " acc ", #8, " acc "\n\t"
    /* stack: 0 w_end, 4 xq_end, 8 xq, 12 entry, 16 pixel 0's output, 20 pixel 1's */
    __asm__(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "sub sp, sp, #24\n\t"
        "ldm r0, {r1, r2, r3, r4, r5, r6, r7}\n\t"
        "mov lr, r1\n\t"
        "str r2, [sp, #0]\n\t"
        "str r4, [sp, #4]\n\t"
        "add r6, r6, r5\n\t"
        "strd r5, r6, [sp, #16]\n\t"
        /* entry = the loop + skip, Thumb bit set */
        "adr.w r1, 2f\n\t"
        "add r1, r1, r7\n\t"
        "orr r4, r1, #1\n\t"
        "strd r3, r4, [sp, #8]\n\t"
        "1:\n\t"  /* a channel pair: accumulators from the biases, then the groups */
        "ldmia lr!, {r8, r9, r10, r11}\n\t"
        "ldrd r12, r0, [sp, #8]\n\t"
        "bx r0\n\t"
        ".p2align 2\n"
        "2:\n\t"
        PJ_GROUP4 PJ_GROUP4 PJ_GROUP4 PJ_GROUP4 PJ_GROUP4 PJ_GROUP4 PJ_GROUP4 PJ_GROUP4
        "3:\n\t"  /* pair_job_for's skip holds only if every group has PJ_GROUP_BYTES */
        ".if 3b - 2b - 32 * " PJ_GROUP_BYTES_S "\n\t"
        ".error \"conv_pairs_sat8: a group is not PJ_GROUP_BYTES long\"\n\t"
        ".endif\n\t"
        "ldr r0, [sp, #4]\n\t"
        "cmp r12, r0\n\t"
        "bne 2b\n\t"
        /* requantize: records in r0-r5, the two pixels' outputs at r12 and r7 */
        "ldmia lr!, {r0, r1, r2, r3, r4, r5}\n\t"
        "ldrd r12, r7, [sp, #16]\n\t"
        PJ_OUT("r8", "r0", "r1", "r2")
        PJ_OUT("r10", "r3", "r4", "r5")
        "bfi r8, r10, #8, #8\n\t"
        "strh r8, [r12], #2\n\t"  /* both channels of pixel 0 */
        PJ_OUT("r9", "r0", "r1", "r2")
        PJ_OUT("r11", "r3", "r4", "r5")
        "bfi r9, r11, #8, #8\n\t"
        "strh r9, [r7], #2\n\t"
        "strd r12, r7, [sp, #16]\n\t"
        "ldr r0, [sp, #0]\n\t"
        "cmp lr, r0\n\t"
        "bne 1b\n\t"
        "add sp, sp, #24\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
#undef PJ_GROUP
#undef PJ_GROUP_END
#undef PJ_GROUP4
#undef PJ_OUT
}
#endif

/* Where conv_pairs_sat8 takes the pixel pairs, they beat the quad path. */
static inline int pairs_in_asm(const td_conv_params *p) {
    return PAIRS_ASM && p->layout == TD_W16B && p->act_min == -128 && p->act_max == 127;
}

/* The channel pairs of conv_pixel_pair from TD_W16B blocks, each record applied to both pixels;
 * sat8: the activation's clamp is all of int8 (SSAT does it). */
static TD_ALWAYS_INLINE void conv_blocks(const td_conv_params *p, const int32_t *blk,
                                         const int16_t *xq, int32_t k4, int8_t *o0, int8_t *o1,
                                         int sat8) {
    const int32_t out_c = p->out_c, lo = p->act_min, hi = p->act_max;
    int oc = 0;
#define OUT(r, a)                                                                                \
    (int8_t)(sat8 ? td_sat8(td_requant2((r)[0], (r)[1], (r)[2], a))                              \
                  : td_clamp(td_requant2((r)[0], (r)[1], (r)[2], a), lo, hi))
#if PAIRS_ASM
    if (sat8 && out_c >= 2) {  /* the full channel pairs in assembly */
        const int32_t pairs = out_c >> 1;
        const pair_job job = pair_job_for(blk, pairs, xq, k4, o0, (int32_t)(o1 - o0));
        conv_pairs_sat8(&job);
        oc = 2 * pairs;
        blk = job.w_end;
        o0 += oc;
        o1 += oc;
    }
#endif
    for (; oc < out_c; oc += 2, o0 += 2, o1 += 2) {
        int32_t acc[4] = {blk[0], blk[1], blk[2], blk[3]};
        const int16_t *w16 = (const int16_t *)(const void *)(blk + 4);
        td_mm_2x2_w16(&w16, xq, k4 >> 2, acc);
        const int32_t *r = blk + 4 + k4;
        o0[0] = OUT(r, acc[0]);
        o1[0] = OUT(r, acc[1]);
        if (oc + 1 < out_c) {
            o0[1] = OUT(r + 3, acc[2]);
            o1[1] = OUT(r + 3, acc[3]);
        }
        blk = r + 6;
    }
#undef OUT
}

/* Both pixels' accumulators of one pair of filter rows, k4 values each; the weight pointers move
 * on to the next pair. */
#define PAIR_ACC(layout, w8, w16, k4, px, b, acc)                                                 \
    do {                                                                                         \
        acc[0] = acc[1] = (b)[0];                                                                \
        acc[2] = acc[3] = (b)[1];                                                                \
        if ((layout) == TD_W16) {                                                                \
            td_mm_2x2_w16(&w16, (px)->xq, (k4) >> 2, acc);                                       \
        } else if ((layout) == TD_W8) {                                                          \
            td_mm_2x2_w8(&w8, (px)->xq, (k4) >> 2, acc);                                         \
        } else {                                                                                 \
            td_dot_rows_2x2(w8, w8 + (k4), (px)->xa, (px)->xb, (px)->n, acc);                    \
            w8 += 2 * (k4);                                                                      \
        }                                                                                        \
    } while (0)

/* The output channel pairs of conv_pixel_pair with fast records and int8 weights (TD_W8 or
 * TD_ROWS), each record applied to both pixels; sat8: the activation's clamp is all of int8 (SSAT
 * does it). Called with constant sat8 and layout, so each combination gets its own loop without
 * branches in it. */
static TD_ALWAYS_INLINE void conv_pairs_fast(const td_conv_params *p, const void *w,
                                             const pixel_pair *px, int32_t k4, int8_t *o0,
                                             int8_t *o1, int sat8, int layout) {
    const int32_t out_c = p->out_c, lo = p->act_min, hi = p->act_max;
    const int32_t *b = p->bias_folded, *r = p->rq;
    const int8_t *w8 = (const int8_t *)w;
    const int16_t *w16 = (const int16_t *)w;
    int32_t acc[4];
#define OUT(r, a) TD_REQUANT_OUT(r, a, lo, hi, sat8)
    int oc = 0;
    for (; oc + 2 <= out_c; oc += 2, b += 2, r += 6, o0 += 2, o1 += 2) {
        PAIR_ACC(layout, w8, w16, k4, px, b, acc);
        o0[0] = OUT(r, acc[0]);
        o1[0] = OUT(r, acc[1]);
        o0[1] = OUT(r + 3, acc[2]);
        o1[1] = OUT(r + 3, acc[3]);
    }
    if (oc < out_c) {
        PAIR_ACC(layout, w8, w16, k4, px, b, acc);
        o0[0] = OUT(r, acc[0]);
        o1[0] = OUT(r, acc[1]);
    }
#undef OUT
}

/* Two output pixels, every output channel. Filter rows come in pairs (an odd last row is paired
 * with zeros), k4 values each; o1 may point to a dummy pixel. */
static void conv_pixel_pair(const td_conv_params *p, const void *w, const pixel_pair *px,
                            int32_t k4, int8_t *restrict o0, int8_t *restrict o1) {
    const int32_t out_c = p->out_c;
    const int sat8 = p->act_min == -128 && p->act_max == 127;
    if (p->layout == TD_W16B) {
        if (sat8)
            conv_blocks(p, (const int32_t *)w, px->xq, k4, o0, o1, 1);
        else
            conv_blocks(p, (const int32_t *)w, px->xq, k4, o0, o1, 0);
        return;
    }
    if (p->rq) {
        if (p->layout == TD_W8 && sat8)
            conv_pairs_fast(p, w, px, k4, o0, o1, 1, TD_W8);
        else if (p->layout == TD_W8)
            conv_pairs_fast(p, w, px, k4, o0, o1, 0, TD_W8);
        else if (sat8)
            conv_pairs_fast(p, w, px, k4, o0, o1, 1, TD_ROWS);
        else
            conv_pairs_fast(p, w, px, k4, o0, o1, 0, TD_ROWS);
        return;
    }
    const td_requant_ctx rc = td_conv_ctx(p);
    const int32_t *b = p->bias_folded;
    const int8_t *w8 = (const int8_t *)w;
    const int16_t *w16 = (const int16_t *)w;
    int32_t acc[4];
    for (int oc = 0; oc < out_c; oc += 2, b += 2) {
        PAIR_ACC(p->layout, w8, w16, k4, px, b, acc);
        o0[oc] = td_conv_out(&rc, acc[0], oc);
        o1[oc] = td_conv_out(&rc, acc[1], oc);
        if (oc + 1 == out_c) break;
        o0[oc + 1] = td_conv_out(&rc, acc[2], oc + 1);
        o1[oc + 1] = td_conv_out(&rc, acc[3], oc + 1);
    }
}

/* n bytes; most copies here are a few bytes, where a call to memcpy costs more than the copy.
 * memcpy of 4 bytes is one word load and store where the core allows unaligned access; the tails
 * are written out because compilers turn byte loops back into library calls. */
static inline void copy_bytes(int8_t *dst, const int8_t *src, int32_t n) {
    if (n >= 32) {
        memcpy(dst, src, (size_t)n);
        return;
    }
    for (; n >= 4; n -= 4, dst += 4, src += 4) memcpy(dst, src, 4);
    if (n & 2) {
        dst[0] = src[0];
        dst[1] = src[1];
        dst += 2;
        src += 2;
    }
    if (n & 1) dst[0] = src[0];
}

static inline void fill_bytes(int8_t *dst, int8_t v, int32_t n) {
    const uint32_t word = (uint8_t)v * 0x01010101u;
    for (; n >= 4; n -= 4, dst += 4) memcpy(dst, &word, 4);
    if (n & 2) {
        dst[0] = v;
        dst[1] = v;
        dst += 2;
    }
    if (n & 1) dst[0] = v;
}

/* Row iy of the window starting at input column ix0: row_bytes (k_w * in_c) values, straight from
 * the input when the row lies inside it, else assembled in tmp with the input zero point for taps
 * outside; a row above or below the input is zero_row. */
static TD_ALWAYS_INLINE const int8_t *window_row(const td_conv_params *p, const int8_t *in,
                                                  int iy, int ix0, int8_t *tmp,
                                                  const int8_t *zero_row) {
    if (iy < 0 || iy >= p->in_h) return zero_row;
    const int32_t c = p->in_c;
    const int8_t *src = in + (int32_t)iy * p->in_w * c;
    if (p->dil_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w) return src + ix0 * c;
    const int8_t zp = (int8_t)(-p->input_offset);
    if (p->dil_w == 1) {  /* contiguous taps: zero points, the part inside, zero points */
        const int lo = ix0 < 0 ? -ix0 : 0;
        const int hi = ix0 + p->k_w > p->in_w ? p->in_w - ix0 : p->k_w;
        fill_bytes(tmp, zp, lo * c);
        copy_bytes(tmp + lo * c, src + (ix0 + lo) * c, (hi - lo) * c);
        fill_bytes(tmp + hi * c, zp, (p->k_w - hi) * c);
        return tmp;
    }
    for (int kx = 0; kx < p->k_w; ++kx) {
        const int ix = ix0 + kx * p->dil_w;
        if (ix < 0 || ix >= p->in_w)
            fill_bytes(tmp + kx * c, zp, c);
        else
            copy_bytes(tmp + kx * c, src + ix * c, c);
    }
    return tmp;
}

/* The windows of output pixels (oy, ox) and (oy, ox1), one kernel row at a time, each row's
 * k_w * in_c values padded to a multiple of 4 (the weights are laid out the same way): widened
 * into the pixel pair buffer xq, or (TD_ROWS) copied as int8 to xa and xb. */
static void pack_windows(const td_conv_params *p, const int8_t *in, int oy, int ox, int ox1,
                         int8_t *tmp0, int8_t *tmp1, const int8_t *zero_row, int16_t *xq,
                         int8_t *xa, int8_t *xb) {
    const int32_t row_bytes = (int32_t)p->k_w * p->in_c, row4 = (row_bytes + 3) & ~3;
    const int iy0 = oy * p->stride_h - p->pad_h;
    const int ix0 = ox * p->stride_w - p->pad_w, ix1 = ox1 * p->stride_w - p->pad_w;
    if (p->layout != TD_ROWS && p->dil_w == 1 && ix0 >= 0 && ix1 + p->k_w <= p->in_w) {
        /* both windows inside the input's width (most pairs): rows straight from the input */
        const int32_t row = (int32_t)p->in_w * p->in_c, gap = (int32_t)(ix1 - ix0) * p->in_c;
#if PAIRS_ASM
        if ((row_bytes & 7) == 0 && iy0 >= 0 && iy0 + (p->k_h - 1) * p->dil_h < p->in_h) {
            /* every row inside: all of them in one loop */
            td_pack_pair_rows(in + iy0 * row + ix0 * p->in_c, gap, p->dil_h * row, p->k_h,
                              row_bytes >> 2, xq);
            return;
        }
#endif
        for (int ky = 0, iy = iy0; ky < p->k_h; ++ky, iy += p->dil_h, xq += 2 * row4) {
            if (iy < 0 || iy >= p->in_h) {
                td_pack_pair(zero_row, zero_row, row_bytes, xq);
            } else {
                const int8_t *ra = in + iy * row + ix0 * p->in_c;
                td_pack_pair(ra, ra + gap, row_bytes, xq);
            }
        }
        return;
    }
    for (int ky = 0; ky < p->k_h; ++ky, xq += 2 * row4) {
        const int iy = iy0 + ky * p->dil_h;
        const int8_t *ra = window_row(p, in, iy, ix0, tmp0, zero_row);
        const int8_t *rb = window_row(p, in, iy, ix1, tmp1, zero_row);
        if (p->layout != TD_ROWS) {
            td_pack_pair(ra, rb, row_bytes, xq);
            continue;
        }
        copy_bytes(xa + ky * row4, ra, row_bytes);
        fill_bytes(xa + ky * row4 + row_bytes, 0, row4 - row_bytes);
        copy_bytes(xb + ky * row4, rb, row_bytes);
        fill_bytes(xb + ky * row4 + row_bytes, 0, row4 - row_bytes);
    }
}

/* Four output pixels (a quad buffer xq of k4 values each, TD_W16B blocks), every output channel:
 * two filter rows at a time against all four pixels, each record applied to four accumulators.
 * sat8: the clamp is all of int8. */
static TD_ALWAYS_INLINE void conv_quad(const td_conv_params *p, const int32_t *blk,
                                       const int16_t *xq, int32_t k4, int8_t *o, int sat8) {
    const int32_t out_c = p->out_c, lo = p->act_min, hi = p->act_max;
    int8_t *const o1 = o + out_c, *const o2 = o1 + out_c, *const o3 = o2 + out_c;
    int32_t acc[8];
    /* each record is read once for its four outputs (a char store may alias it) */
#define OUT4(r, a, c)                                                                            \
    do {                                                                                         \
        const int32_t m_ = (r)[0], e_ = (r)[1], k_ = (r)[2];                                     \
        o[c] = QUAD_OUT(m_, e_, k_, (a)[0]);                                                     \
        o1[c] = QUAD_OUT(m_, e_, k_, (a)[1]);                                                    \
        o2[c] = QUAD_OUT(m_, e_, k_, (a)[2]);                                                    \
        o3[c] = QUAD_OUT(m_, e_, k_, (a)[3]);                                                    \
    } while (0)
#define QUAD_OUT(m, e, k, a)                                                                     \
    (int8_t)(sat8 ? td_sat8(td_requant2(m, e, k, a)) : td_clamp(td_requant2(m, e, k, a), lo, hi))
    for (int32_t oc = 0; oc < out_c; oc += 2) {
        acc[0] = acc[1] = acc[2] = acc[3] = blk[0];
        acc[4] = acc[5] = acc[6] = acc[7] = blk[2];
        const int16_t *w = (const int16_t *)(const void *)(blk + 4);
        td_mm_4x2_w16(&w, xq, k4 >> 2, acc);
        const int32_t *r = blk + 4 + k4;
        blk = r + 6;
        OUT4(r, acc, oc);
        if (oc + 1 == out_c) break;  /* an odd last row, paired with zeros */
        OUT4(r + 3, acc + 4, oc + 1);
    }
#undef OUT4
#undef QUAD_OUT
}

/* conv_quad for each clamp, kept out of line: inlined into td_conv1x1_s8, td_mm_4x2_w16's 14
 * registers cannot all be found once the FPU is enabled ("impossible constraints") */
#if !PAIRS_ASM  /* with the pair loop in assembly a quad never has the int8 clamp */
static __attribute__((noinline)) void conv_quad_sat8(const td_conv_params *p, const int32_t *blk,
                                                     const int16_t *xq, int32_t k4, int8_t *o) {
    conv_quad(p, blk, xq, k4, o, 1);
}
#endif

static __attribute__((noinline)) void conv_quad_clamp(const td_conv_params *p, const int32_t *blk,
                                                      const int16_t *xq, int32_t k4, int8_t *o) {
    conv_quad(p, blk, xq, k4, o, 0);
}

/* The windows of output pixels (oy, ox .. ox + 3), all inside the input's width, into the quad
 * buffer xq, kernel row by kernel row. */
static void pack_quad_windows(const td_conv_params *p, const int8_t *in, int oy, int ox,
                              const int8_t *zero_row, int16_t *xq) {
    const int32_t c = p->in_c, row_bytes = (int32_t)p->k_w * c, row4 = (row_bytes + 3) & ~3;
    const int32_t row = (int32_t)p->in_w * c, step = (int32_t)p->stride_w * c;
    const int ix0 = ox * p->stride_w - p->pad_w;
    for (int ky = 0, iy = oy * p->stride_h - p->pad_h; ky < p->k_h;
         ++ky, iy += p->dil_h, xq += 4 * row4) {
        if (iy < 0 || iy >= p->in_h)
            td_pack_quad(zero_row, 0, row_bytes, xq);
        else
            td_pack_quad(in + iy * row + ix0 * c, step, row_bytes, xq);
    }
}

#if PAIRS_ASM
/* Output row oy's pixels on the assembly path (a job for every channel pair), into orow. The
 * columns whose windows lie inside the input go in pairs of neighbours straight through
 * td_pack_pair_rows; those at the edges are paired with each other (the left edge's with the
 * right's, so a row has one pair that needs its windows assembled rather than two) through
 * pack_windows. A window row of k_w * in_c values not a multiple of 4 is read on to the padded
 * length where the input holds those bytes: the weights of the padding are zero, so whatever the
 * bytes are adds nothing. The shape is read into locals once; after each assembly statement
 * (memory clobbers) the compiler would read it from p again. */
static void asm_row(const td_conv_params *p, const int8_t *in, int oy, int8_t *orow,
                    int8_t *dummy, pair_job *job, int16_t *xq, int8_t *tmp0, int8_t *tmp1,
                    const int8_t *zero_row) {
    const int32_t c = p->in_c, in_w = p->in_w, k_w = p->k_w, k_h = p->k_h, sw = p->stride_w;
    const int32_t out_w = p->out_w, out_c = p->out_c, in_row = in_w * c;
    const int32_t row4 = (k_w * c + 3) & ~3, iy0 = oy * p->stride_h - p->pad_h;
    const int32_t last = iy0 + (k_h - 1) * p->dil_h;  /* the window's last input row */
    const int8_t *base = p->dil_w == 1 && iy0 >= 0 && last < p->in_h ? in + iy0 * in_row : 0;
    /* the columns [lo, hi) whose windows, rows read on to row4 values, lie inside the input */
    const int32_t room = (p->in_h - last) * in_row - row4, ix_end = room < 0 ? -1 : room / c;
    int32_t lo = 0, hi = 0;
    if (base) {
        while (lo < out_w && lo * sw - p->pad_w < 0) ++lo;
        for (hi = lo; hi < out_w; ++hi) {
            const int32_t ix = hi * sw - p->pad_w;
            if (ix + k_w > in_w || ix > ix_end) break;
        }
    }
    const int32_t step = p->dil_h * in_row, inside = hi - lo;
    for (int32_t ox = lo; ox + 1 < hi; ox += 2) {
        const int32_t ix0 = ox * sw - p->pad_w;
        td_pack_pair_rows(base + ix0 * c, sw * c, step, k_h, row4 >> 2, xq);
        job->o0 = orow + ox * out_c;
        job->o1 = out_c;
        conv_pairs_sat8(job);
    }
    /* the edge columns [0, lo) and [hi, out_w) two at a time, then what is left: an odd
     * inside column and an odd edge column go together */
    const int32_t edges = lo + out_w - hi;
    for (int32_t k = 0; k <= edges; k += 2) {
        int32_t ox = k < lo ? k : hi + k - lo, ox1 = k + 1 < lo ? k + 1 : hi + k + 1 - lo;
        if (k + 1 >= edges) {  /* the leftovers */
            const int odd_edge = k < edges, odd_inside = inside & 1;
            if (!odd_edge && !odd_inside) break;
            if (!odd_edge) {  /* one inside column alone: its window twice */
                td_pack_pair_rows(base + ((hi - 1) * sw - p->pad_w) * c, 0, step, k_h,
                                  row4 >> 2, xq);
                job->o0 = orow + (hi - 1) * out_c;
                job->o1 = (int32_t)(dummy - job->o0);
                conv_pairs_sat8(job);
                break;
            }
            ox1 = odd_inside ? hi - 1 : ox;
            if (ox1 < ox) {
                const int32_t t = ox;
                ox = ox1;
                ox1 = t;
            }
        }
        pack_windows(p, in, oy, ox, ox1, tmp0, tmp1, zero_row, xq, 0, 0);
        job->o0 = orow + ox * out_c;
        job->o1 = ox1 != ox ? (ox1 - ox) * out_c : (int32_t)(dummy - job->o0);
        conv_pairs_sat8(job);
    }
}
#endif

/* Scratch: the window buffer (p->quads: the quad buffer, 8 * k bytes, else the pixel pair buffer,
 * 4 * k bytes; k = k_h * kernel rows padded to 4 values), two assembled window rows and a row of
 * zero points (row4 bytes each), a dummy output pixel (out_c rounded up to 4) for an odd last
 * pixel and, in place, a ring of output rows written back once output row r + pad_h, the last
 * reader of input row r, is done. With p->quads pixels go four at a time where all four windows
 * lie inside the input's width, else two at a time. */
int32_t td_conv2d_s8_scratch(const td_conv_params *p) {
    const int32_t row4 = (p->k_w * p->in_c + 3) & ~3, k4 = p->k_h * row4;
    return (p->quads ? 8 : 4) * k4 + 3 * row4 + ((p->out_c + 3) & ~3)
           + p->ring_rows * p->out_w * p->out_c;
}

void td_conv2d_s8(const td_conv_params *p, const int8_t *in, const void *w, const int32_t *bias,
                  int8_t *out, int8_t *scratch) {
    (void)bias;
    const int32_t row4 = ((int32_t)p->k_w * p->in_c + 3) & ~3, k4 = p->k_h * row4;
    const int32_t row = (int32_t)p->out_w * p->out_c;
    const int quads = p->quads && p->dil_w == 1 && !pairs_in_asm(p);
#if !PAIRS_ASM
    const int sat8 = p->act_min == -128 && p->act_max == 127;
#endif
    int16_t *xq = (int16_t *)(void *)scratch;
    int8_t *tmp0 = scratch + (p->quads ? 8 : 4) * k4, *tmp1 = tmp0 + row4;
    int8_t *zero_row = tmp1 + row4;
    int8_t *dummy = zero_row + row4;
    int8_t *ring = p->ring_rows ? dummy + ((p->out_c + 3) & ~3) : 0;
    int8_t *xa = scratch, *xb = xa + k4;  /* TD_ROWS: the two windows in the same space */
    const pixel_pair px = {xq, xa, xb, k4};
    fill_bytes(zero_row, (int8_t)(-p->input_offset), row4);
#if PAIRS_ASM
    /* an even channel count on the assembly path: one job for every pixel pair */
    const int32_t asm_pairs = pairs_in_asm(p) && !(p->out_c & 1) ? p->out_c >> 1 : 0;
    pair_job job = pair_job_for((const int32_t *)w, asm_pairs, xq, k4, 0, 0);
#endif
    for (int oy = 0; oy < p->out_h + (ring ? p->pad_h : 0); ++oy) {
        int8_t *orow = ring ? ring + (oy % p->ring_rows) * row : out + oy * row;
#if PAIRS_ASM
        if (oy < p->out_h && job.w != job.w_end) {
            asm_row(p, in, oy, orow, dummy, &job, xq, tmp0, tmp1, zero_row);
        } else
#endif
        if (oy < p->out_h) {
            for (int ox = 0; ox < p->out_w;) {
                const int ix = ox * p->stride_w - p->pad_w;
                if (quads && ox + 4 <= p->out_w && ix >= 0
                    && ix + 3 * p->stride_w + p->k_w <= p->in_w) {
                    pack_quad_windows(p, in, oy, ox, zero_row, xq);
                    int8_t *o0 = orow + (int32_t)ox * p->out_c;
#if !PAIRS_ASM
                    if (sat8)
                        conv_quad_sat8(p, (const int32_t *)w, xq, k4, o0);
                    else
#endif
                        conv_quad_clamp(p, (const int32_t *)w, xq, k4, o0);
                    ox += 4;
                    continue;
                }
                const int pair = ox + 1 < p->out_w;
                pack_windows(p, in, oy, ox, pair ? ox + 1 : ox, tmp0, tmp1, zero_row, xq, xa, xb);
                int8_t *o0 = orow + (int32_t)ox * p->out_c;
                conv_pixel_pair(p, w, &px, k4, o0, pair ? o0 + p->out_c : dummy);
                ox += 2;
            }
        }
        const int done = oy - p->pad_h;
        if (ring && done >= 0 && done < p->out_h)
            memcpy(out + done * row, ring + (done % p->ring_rows) * row, (size_t)row);
    }
}

/* 1x1 convolution, stride 1, no padding: a matrix product over pixels. Pixels go four at a time
 * (td_mm_4x2_w16) where the memory plan gave the layer a quad buffer (p->quads: wide weights and
 * fast records), the rest two at a time. All input pixels of a quad or pair are widened into the
 * scratch before any of their outputs is written, so the output may overwrite the input when
 * in_c == out_c. Scratch: the quad buffer (or the pixel pair buffer in the same place) and a
 * dummy pixel. */
int32_t td_conv1x1_s8_scratch(const td_conv_params *p) {
    return (p->quads ? 8 : 4) * ((p->in_c + 3) & ~3) + ((p->out_c + 3) & ~3);
}

void td_conv1x1_s8(const td_conv_params *p, const int8_t *in, const void *w, const int32_t *bias,
                   int8_t *out, int8_t *scratch) {
    (void)bias;
    const int32_t pixels = (int32_t)p->out_h * p->out_w, n = p->in_c, k4 = (n + 3) & ~3;
    int16_t *xq = (int16_t *)(void *)scratch;
    int8_t *dummy = scratch + (p->quads ? 8 : 4) * k4;
    int32_t i = 0;
    if (p->quads && !pairs_in_asm(p)) {
#if !PAIRS_ASM
        const int sat8 = p->act_min == -128 && p->act_max == 127;
#endif
        for (; i + 4 <= pixels; i += 4) {
            td_pack_quad(in + i * n, n, n, xq);
#if !PAIRS_ASM
            if (sat8)
                conv_quad_sat8(p, (const int32_t *)w, xq, k4, out + i * p->out_c);
            else
#endif
                conv_quad_clamp(p, (const int32_t *)w, xq, k4, out + i * p->out_c);
        }
    }
#if PAIRS_ASM
    if (pairs_in_asm(p) && !(p->out_c & 1)) {  /* one job for every pixel pair but the last */
        pair_job job = pair_job_for((const int32_t *)w, p->out_c >> 1, xq, k4, out, p->out_c);
        for (; i + 2 <= pixels; i += 2, job.o0 += 2 * p->out_c) {
            td_pack_pair(in + i * n, in + i * n + n, n, xq);
            conv_pairs_sat8(&job);
        }
    }
#endif
    for (; i < pixels; i += 2) {
        const int pair = i + 1 < pixels;
        const int8_t *x0 = in + i * n, *x1 = pair ? x0 + n : x0;
        /* TD_ROWS: the two pixels copied as they are (the output may overwrite them) */
        int8_t *xa = (int8_t *)(void *)xq, *xb = xa + k4;
        const pixel_pair px = {xq, xa, xb, n};
        if (p->layout == TD_ROWS) {
            copy_bytes(xa, x0, n);
            copy_bytes(xb, x1, n);
        } else {
            td_pack_pair(x0, x1, n, xq);
        }
        int8_t *o0 = out + i * p->out_c;
        conv_pixel_pair(p, w, &px, k4, o0, pair ? o0 + p->out_c : dummy);
    }
}
