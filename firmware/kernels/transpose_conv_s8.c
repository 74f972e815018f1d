/* TRANSPOSE_CONV, int8 NHWC, weights [out_c, k_h, k_w, in_c] (per-channel requantization).
 * TFLite's reference scatters each input value's products into an int32 scratch as large as the
 * output; this gathers the same products per output instead, so it needs no scratch: output row
 * oy takes filter row ky from input row (oy + pad_h - ky) / stride_h wherever that divides and
 * lies inside the input (columns alike). The compiler proves every sum fits in int32, so the
 * order of the additions cannot change the result. */
#include "td_kernels.h"
#include "td_quant.h"

void td_transpose_conv_s8(const td_transpose_conv_params *p, const int8_t *in, const int8_t *w,
                          const int32_t *bias, int8_t *out) {
    const int32_t in_c = p->in_c, in_row = p->in_w * in_c, off = p->input_offset;
    const int32_t tap = in_c, filter_row = p->k_w * in_c, filter = p->k_h * filter_row;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *image = in + b * p->in_h * in_row;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t ty = oy + p->pad_h;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t tx = ox + p->pad_w;
                for (int32_t oc = 0; oc < p->out_c; ++oc) {
                    const int8_t *f = w + oc * filter;
                    int32_t acc = 0;
                    for (int32_t ky = ty % p->stride_h; ky < p->k_h; ky += p->stride_h) {
                        const int32_t iy = (ty - ky) / p->stride_h;
                        if (iy < 0) break;
                        if (iy >= p->in_h) continue;
                        for (int32_t kx = tx % p->stride_w; kx < p->k_w; kx += p->stride_w) {
                            const int32_t ix = (tx - kx) / p->stride_w;
                            if (ix < 0) break;
                            if (ix >= p->in_w) continue;
                            const int8_t *src = image + iy * in_row + ix * in_c;
                            const int8_t *wt = f + ky * filter_row + kx * tap;
                            for (int32_t ic = 0; ic < in_c; ++ic) acc += (src[ic] + off) * wt[ic];
                        }
                    }
                    const int32_t v = td_mbqm(acc + bias[oc], p->mult[oc], p->shift[oc]) +
                                      p->output_offset;
                    *out++ = (int8_t)td_clamp(v, p->act_min, p->act_max);
                }
            }
        }
    }
}
