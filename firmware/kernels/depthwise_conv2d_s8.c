/* DEPTHWISE_CONV_2D, int8, output channel = input channel * M + m.
 * The input offset is folded into the bias; a padded tap reads the input zero point, which then
 * contributes exactly nothing, so border pixels take the same path as the interior.
 *
 * td_depthwise_conv2d_s8 (M = 1): input rows are copied into a ring of rows already padded with
 * the zero point (rows above and below the input are slots filled with it), so the inner loops run
 * without a single bounds check, and the output may overwrite the input: row r is in the ring
 * before output row r is written. Weights are int16, per group of four channels and per tap in the order
 * (c0, c2, c1, c3), which SMLABB/SMLATT pair with the SXTB16 halves of four input bytes.
 * td_depthwise_conv2d_dm_s8 (M > 1): direct, int8 weights [1, KH, KW, C*M]. */
#include <string.h>
#include "td_kernels.h"
#include "td_matmul.h"
#include "td_quant.h"

/* One tap for four channels: acc[j] += x[j] * w[j] for the four input bytes at x; advances w by
 * one tap. */
#ifdef TD_DSP
#define DW_TAP(x, w, a0, a1, a2, a3)                                                              \
    do {                                                                                         \
        int32_t v_ = td_ld32(x), e_, w02_, w13_;                                                 \
        /* load the tap's two widened weight words, widen the 4 input bytes to (x0,x2) and      \
         * (x1,x3), then one halfword multiply-accumulate per channel */                        \
        __asm__("ldrd %[w02], %[w13], [%[wp]], #8\n\t"                                          \
                "sxtb16 %[e], %[v]\n\t"                                                          \
                "sxtb16 %[v], %[v], ror #8\n\t"                                                  \
                "smlabb %[a0], %[e], %[w02], %[a0]\n\t"                                          \
                "smlatt %[a2], %[e], %[w02], %[a2]\n\t"                                          \
                "smlabb %[a1], %[v], %[w13], %[a1]\n\t"                                          \
                "smlatt %[a3], %[v], %[w13], %[a3]"                                              \
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [v] "+r"(v_),     \
                  [wp] "+r"(w), [e] "=&r"(e_), [w02] "=&r"(w02_), [w13] "=&r"(w13_)             \
                : : "memory");                                                                   \
    } while (0)
#else
#define DW_TAP(x, w, a0, a1, a2, a3)                                                              \
    do {                                                                                         \
        a0 += (x)[0] * (w)[0];                                                                   \
        a2 += (x)[2] * (w)[1];                                                                   \
        a1 += (x)[1] * (w)[2];                                                                   \
        a3 += (x)[3] * (w)[3];                                                                   \
        w += 4;                                                                                  \
    } while (0)
#endif

/* Channels c..c+3 of one output pixel to int8 with the fast records; sat8: the clamp is all of
 * int8 (SSAT does it). */
#define DW_STORE4(o, r, lo, hi, sat8, a0, a1, a2, a3)                                            \
    do {                                                                                         \
        (o)[0] = TD_REQUANT_OUT(r, a0, lo, hi, sat8);                                            \
        (o)[1] = TD_REQUANT_OUT((r) + 3, a1, lo, hi, sat8);                                      \
        (o)[2] = TD_REQUANT_OUT((r) + 6, a2, lo, hi, sat8);                                      \
        (o)[3] = TD_REQUANT_OUT((r) + 9, a3, lo, hi, sat8);                                      \
    } while (0)

/* One output row of a 3x3 kernel whose channels come in whole groups of four and whose records
 * are all fast: the three ring rows, the two tap offsets and the accumulators stay in registers. */
static TD_ALWAYS_INLINE void dw_row_3x3(const td_conv_params *p, const int8_t *r0,
                                        const int8_t *r1, const int8_t *r2, const int16_t *w,
                                        int8_t *o, int sat8) {
    const int32_t c_n = p->out_c, out_w = p->out_w;
    const int32_t step = (int32_t)p->dil_w * c_n, step2 = 2 * step;
    const int32_t pix_step = (int32_t)p->stride_w * c_n - c_n;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (int ox = 0; ox < out_w; ++ox, r0 += pix_step, r1 += pix_step, r2 += pix_step) {
        const int16_t *wg = w;
        const int32_t *b = p->bias_folded, *r = p->rq;
        for (int32_t c = 0; c < c_n; c += 4, r0 += 4, r1 += 4, r2 += 4, b += 4, r += 12, o += 4) {
            int32_t a0 = b[0], a1 = b[1], a2 = b[2], a3 = b[3];
            DW_TAP(r0, wg, a0, a1, a2, a3);
            DW_TAP(r0 + step, wg, a0, a1, a2, a3);
            DW_TAP(r0 + step2, wg, a0, a1, a2, a3);
            DW_TAP(r1, wg, a0, a1, a2, a3);
            DW_TAP(r1 + step, wg, a0, a1, a2, a3);
            DW_TAP(r1 + step2, wg, a0, a1, a2, a3);
            DW_TAP(r2, wg, a0, a1, a2, a3);
            DW_TAP(r2 + step, wg, a0, a1, a2, a3);
            DW_TAP(r2 + step2, wg, a0, a1, a2, a3);
            DW_STORE4(o, r, lo, hi, sat8, a0, a1, a2, a3);
        }
    }
}

#if defined(TD_DSP) && defined(TD_LDM_LOOPS)
/* dw_row_3x3 for int8 saturation, all in one assembly block: r0-r3 the four sums, r4/r5 the input
 * word and its halves, r6/r7 a tap's weight words, r8-r10 the three ring rows, r11 the tap step,
 * r12 the group's weights (read at fixed offsets, one LDRD per tap), lr the records; the rest
 * in a struct on the stack. Per group of four channels: the biases (one LDM), 9 taps of eight
 * instructions (each row's first tap last, so its load moves the row on), then per channel one
 * LDM of its record and the six instructions of td_requant2 on the doubled sum, SSAT, a byte
 * store. 105 instructions per group against 139 for the C loop. */
typedef struct {
    const int32_t *bias_base, *bias, *rq_base, *rq_end;
    const int16_t *w;
    int8_t *out, *out_end;
    int32_t pix_adv;
} dw_row_ctx;

#define DW_TAP_ASM(x, woff) \
    "ldr r4, " x "\n\t" \
    "ldrd r6, r7, [r12, #" woff "]\n\t" \
    "sxtb16 r5, r4\n\t" \
    "sxtb16 r4, r4, ror #8\n\t" \
    "smlabb r0, r5, r6, r0\n\t" \
    "smlatt r2, r5, r6, r2\n\t" \
    "smlabb r1, r4, r7, r1\n\t" \
    "smlatt r3, r4, r7, r3\n\t"
#define DW_ROW_ASM(r, w0) \
    DW_TAP_ASM("[" r ", r11]", #w0 "+8") \
    DW_TAP_ASM("[" r ", r11, lsl #1]", #w0 "+16") \
    DW_TAP_ASM("[" r "], #4", #w0)
#define DW_OUT_ASM(a) \
    "ldm lr!, {r4-r6}\n\t" \
    "lsl " a ", " a ", #1\n\t" \
    "smmlar r4, " a ", r4, r6\n\t" \
    "add r4, r4, " a ", asr #31\n\t" \
    "asr r4, r4, r5\n\t" \
    "ssat r4, #8, r4\n\t" \
    "strb r4, [r7], #1\n\t"

static void dw_row_3x3_sat8(const td_conv_params *p, const int8_t *r0, const int8_t *r1,
                            const int8_t *r2, const int16_t *w, int8_t *o) {
    const int32_t c_n = p->out_c;
    dw_row_ctx c = {p->bias_folded, p->bias_folded, p->rq, p->rq + 3 * c_n, w, o,
                    o + (int32_t)p->out_w * c_n, (int32_t)p->stride_w * c_n - c_n};
    register const int8_t *x0 __asm__("r8") = r0, *x1 __asm__("r9") = r1, *x2 __asm__("r10") = r2;
    register int32_t step __asm__("r11") = (int32_t)p->dil_w * c_n;
    __asm__ volatile(
        "0:\n\t"
        "ldr r12, %[w]\n\t"
        "ldr lr, %[rq_base]\n\t"
        "ldr r4, %[bias_base]\n\t"
        "str r4, %[bias]\n\t"
        "1:\n\t"
        "ldr r4, %[bias]\n\t"
        "ldm r4!, {r0-r3}\n\t"
        "str r4, %[bias]\n\t"
        DW_ROW_ASM("r8", 0) DW_ROW_ASM("r9", 24) DW_ROW_ASM("r10", 48)
        "add r12, r12, #72\n\t"
        "ldr r7, %[out]\n\t"
        DW_OUT_ASM("r0") DW_OUT_ASM("r1") DW_OUT_ASM("r2") DW_OUT_ASM("r3")
        "str r7, %[out]\n\t"
        "ldr r4, %[rq_end]\n\t"
        "cmp lr, r4\n\t"
        "bne 1b\n\t"
        "ldr r4, %[pix_adv]\n\t"
        "add r8, r8, r4\n\t"
        "add r9, r9, r4\n\t"
        "add r10, r10, r4\n\t"
        "ldr r4, %[out_end]\n\t"
        "cmp r7, r4\n\t"
        "bne 0b\n\t"
        : [x0] "+r"(x0), [x1] "+r"(x1), [x2] "+r"(x2), [bias] "+m"(c.bias), [out] "+m"(c.out)
        : [step] "r"(step), [w] "m"(c.w), [rq_base] "m"(c.rq_base), [rq_end] "m"(c.rq_end),
          [bias_base] "m"(c.bias_base), [out_end] "m"(c.out_end), [pix_adv] "m"(c.pix_adv)
        : "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r12", "lr", "cc", "memory");
}
#undef DW_TAP_ASM
#undef DW_ROW_ASM
#undef DW_OUT_ASM
#endif

/* One output row, any kernel size and channel count. */
static void dw_row(const td_conv_params *p, const int8_t *const *rows, const int16_t *w,
                   int8_t *o) {
    const int k_w = p->k_w;
    const int32_t c_n = p->out_c, out_w = p->out_w;
    const int32_t step = (int32_t)p->dil_w * c_n, pix_step = (int32_t)p->stride_w * c_n;
    const int32_t *bf = p->bias_folded, *rq = p->rq, lo = p->act_min, hi = p->act_max;
    const int k_h = p->k_h;
    for (int ox = 0; ox < out_w; ++ox, o += c_n) {
        const int32_t col = ox * pix_step;
        const int16_t *wg = w;
        for (int c = 0; c < c_n; c += 4) {
            int32_t a0 = bf[c], a1 = bf[c + 1], a2 = bf[c + 2], a3 = bf[c + 3];
            for (int ky = 0; ky < k_h; ++ky) {
                const int8_t *x = rows[ky] + col + c;
                for (int kx = 0; kx < k_w; ++kx, x += step) DW_TAP(x, wg, a0, a1, a2, a3);
            }
            if (rq && c + 4 <= c_n) {
                DW_STORE4(o + c, rq + 3 * c, lo, hi, 0, a0, a1, a2, a3);
            } else {
                const td_requant_ctx rc = td_conv_ctx(p);
                const int32_t a[4] = {a0, a1, a2, a3};
                for (int j = 0; j < 4 && c + j < c_n; ++j) o[c + j] = td_conv_out(&rc, a[j], c + j);
            }
        }
    }
}

/* Scratch: ring_rows input rows padded with the zero point to the widest window reach, and 4
 * bytes a group may load past the end. */
int32_t td_depthwise_conv2d_s8_scratch(const td_conv_params *p) {
    const int32_t need_w = (p->out_w - 1) * p->stride_w + (p->k_w - 1) * p->dil_w + 1;
    const int32_t padded = need_w > p->pad_w + p->in_w ? need_w : p->pad_w + p->in_w;
    return p->ring_rows * padded * p->in_c + 4;
}

void td_depthwise_conv2d_s8(const td_conv_params *p, const int8_t *in, const void *w,
                            const int32_t *bias, int8_t *out, int8_t *scratch) {
    (void)bias;
    const int32_t c_n = p->out_c, in_row = (int32_t)p->in_w * c_n, out_row = (int32_t)p->out_w * c_n;
    const int span = p->ring_rows, k_h = p->k_h, k_w = p->k_w;
    const int out_w = p->out_w, in_h = p->in_h;
    const int32_t need_w = (int32_t)(out_w - 1) * p->stride_w + (k_w - 1) * p->dil_w + 1;
    const int32_t pad_r = need_w > p->pad_w + p->in_w ? need_w - p->pad_w - p->in_w : 0;
    const int32_t ring_row = (p->pad_w + p->in_w + pad_r) * c_n, pad_left = p->pad_w * c_n;
    const int8_t zp = (int8_t)(-p->input_offset);
    int8_t *const ring = scratch;
    const int8_t *rows[TD_DW_MAX_K];
    memset(ring, zp, (size_t)(span * ring_row));
    const int fast_3x3 = k_h == 3 && k_w == 3 && p->rq && c_n % 4 == 0;
    int next = 0;  /* the next input row to copy into the ring */
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int top = oy * p->stride_h - p->pad_h;
        for (int ky = 0; ky < k_h; ++ky) {
            const int iy = top + ky * p->dil_h;
            for (; next <= iy && next < in_h; ++next)
                memcpy(ring + (next % span) * ring_row + pad_left, in + next * in_row, (size_t)in_row);
            int8_t *slot = ring + ((iy % span + span) % span) * ring_row;
            /* a row above or below the input: its slot holds no row still needed, fill it */
            if (iy < 0 || iy >= in_h) memset(slot, zp, (size_t)ring_row);
            rows[ky] = slot;
        }
        int8_t *o = out + oy * out_row;
        if (fast_3x3 && p->act_min == -128 && p->act_max == 127)
#if defined(TD_DSP) && defined(TD_LDM_LOOPS)
            dw_row_3x3_sat8(p, rows[0], rows[1], rows[2], (const int16_t *)w, o);
#else
            dw_row_3x3(p, rows[0], rows[1], rows[2], (const int16_t *)w, o, 1);
#endif
        else if (fast_3x3)
            dw_row_3x3(p, rows[0], rows[1], rows[2], (const int16_t *)w, o, 0);
        else
            dw_row(p, rows, (const int16_t *)w, o);
    }
}

/* All channels of output pixel (oy, ox) when each input channel feeds M outputs. */
static void dw_pixel_dm(const td_conv_params *p, const int8_t *in, const int8_t *w, int oy, int ox,
                        int8_t *op) {
    const td_requant_ctx rc = td_conv_ctx(p);
    const int m_count = p->depth_multiplier;
    const int8_t zp = (int8_t)(-p->input_offset);
    const int iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    for (int oc = 0; oc < p->out_c; ++oc) {
        const int ic = oc / m_count;
        int32_t acc = p->bias_folded[oc];
        const int8_t *wp = w + oc;
        for (int ky = 0; ky < p->k_h; ++ky) {
            const int iy = iy0 + ky * p->dil_h;
            for (int kx = 0; kx < p->k_w; ++kx, wp += p->out_c) {
                const int ix = ix0 + kx * p->dil_w;
                const int valid = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
                acc += (int32_t)*wp * (valid ? in[((int32_t)iy * p->in_w + ix) * p->in_c + ic] : zp);
            }
        }
        op[oc] = td_conv_out(&rc, acc, oc);
    }
}

void td_depthwise_conv2d_dm_s8(const td_conv_params *p, const int8_t *in, const void *w,
                               const int32_t *bias, int8_t *out) {
    (void)bias;
    const int32_t row = (int32_t)p->out_w * p->out_c;
    for (int oy = 0; oy < p->out_h; ++oy)
        for (int ox = 0; ox < p->out_w; ++ox)
            dw_pixel_dm(p, in, (const int8_t *)w, oy, ox, out + oy * row + (int32_t)ox * p->out_c);
}
