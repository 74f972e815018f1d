/* TRANSPOSE_CONV, int8 NHWC, weights [k_h][k_w][out_c][in_c] (per-channel requantization).
 * TFLite's reference scatters each input value's products into an int32 scratch as large as the
 * output; this gathers the same products per output pixel instead, into one int32 per output
 * channel (the scratch): output row oy takes filter row ky from input row (oy + pad_h - ky) /
 * stride_h wherever that divides and lies inside the input (columns alike). The input offset is
 * folded into p->tap_offset (offset * the tap's weight sum), so each tap is a plain int8 dot
 * product. The compiler proves no partial sum leaves int32, so the order of the additions
 * cannot change the result. */
#include <string.h>
#include "td_kernels.h"
#include "td_quant.h"

/* acc + the dot product of n int8 pairs; four at a time with SMLAD where the core has it. */
static inline int32_t dot_s8(const int8_t *a, const int8_t *b, int32_t n, int32_t acc) {
#ifdef TD_DSP
    for (; n >= 4; n -= 4, a += 4, b += 4) {
        int32_t x, y;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        acc = td_smlad(td_sxtb16(x), td_sxtb16(y), acc);
        acc = td_smlad(td_sxtb16_hi(x), td_sxtb16_hi(y), acc);
    }
#endif
    for (; n > 0; --n) acc += *a++ * *b++;
    return acc;
}

int32_t td_transpose_conv_s8_scratch(const td_transpose_conv_params *p) {
    return 4 * p->out_c;
}

void td_transpose_conv_s8(const td_transpose_conv_params *p, const int8_t *in, const int8_t *w,
                          int8_t *out, int8_t *scratch) {
    int32_t *acc = (int32_t *)(void *)scratch;
    const int32_t in_c = p->in_c, out_c = p->out_c, in_row = p->in_w * in_c;
    const int32_t tap = out_c * in_c;  /* weights of one (ky, kx) */
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *image = in + b * p->in_h * in_row;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t ty = oy + p->pad_h;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t tx = ox + p->pad_w;
                for (int32_t oc = 0; oc < out_c; ++oc) acc[oc] = p->bias[oc];
                for (int32_t ky = ty % p->stride_h; ky < p->k_h; ky += p->stride_h) {
                    const int32_t iy = (ty - ky) / p->stride_h;
                    if (iy < 0) break;
                    if (iy >= p->in_h) continue;
                    for (int32_t kx = tx % p->stride_w; kx < p->k_w; kx += p->stride_w) {
                        const int32_t ix = (tx - kx) / p->stride_w;
                        if (ix < 0) break;
                        if (ix >= p->in_w) continue;
                        const int8_t *src = image + iy * in_row + ix * in_c;
                        const int32_t t = ky * p->k_w + kx;
                        const int8_t *wt = w + t * tap;
                        const int32_t *off = p->tap_offset + t * out_c;
                        for (int32_t oc = 0; oc < out_c; ++oc, wt += in_c)
                            acc[oc] = dot_s8(src, wt, in_c, acc[oc] + off[oc]);
                    }
                }
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    const int32_t v = td_mbqm(acc[oc], p->mult[oc], p->shift[oc]) +
                                      p->output_offset;
                    *out++ = (int8_t)td_clamp(v, p->act_min, p->act_max);
                }
            }
        }
    }
}
