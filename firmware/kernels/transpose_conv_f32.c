/* TRANSPOSE_CONV, float32 NHWC, weights [out_c][k_h][k_w][in_c]. TFLite's reference scatters:
 * from a zeroed output it adds every input value's products, input rows, columns and channels in
 * order, then adds the bias and clamps. This gathers per output value in the very order those
 * additions reach it: input row ascending (filter row descending: input row (oy + pad_h - ky) /
 * stride_h where that divides), then column, then channel; so the sums are the reference's. */
#include "td_kernels.h"
#include "td_wide.h"

/* The largest tap k < n with k = first (mod step), or -1 where there is none. */
static inline int32_t last_tap(int32_t first, int32_t n, int32_t step) {
    return first < n ? first + (n - 1 - first) / step * step : -1;
}

void td_transpose_conv_f32(const td_transpose_conv_ref_params *p, const float *in,
                           const float *w, const float *bias, float *out) {
    float lo, hi;
    td_act_bounds_f32(p->activation, &lo, &hi);
    const int32_t in_c = p->in_c, in_row = p->in_w * in_c, sh = p->stride_h, sw = p->stride_w;
    for (int32_t b = 0; b < p->batches; ++b) {
        const float *image = in + b * p->in_h * in_row;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t ty = oy + p->pad_h, ky_last = last_tap(ty % sh, p->k_h, sh);
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t tx = ox + p->pad_w, kx_last = last_tap(tx % sw, p->k_w, sw);
                for (int32_t oc = 0; oc < p->out_c; ++oc) {
                    float total = 0.0f;
                    for (int32_t ky = ky_last; ky >= 0; ky -= sh) {
                        const int32_t iy = (ty - ky) / sh;
                        if (iy < 0) continue;
                        if (iy >= p->in_h) break;
                        for (int32_t kx = kx_last; kx >= 0; kx -= sw) {
                            const int32_t ix = (tx - kx) / sw;
                            if (ix < 0) continue;
                            if (ix >= p->in_w) break;
                            const float *src = image + iy * in_row + ix * in_c;
                            const float *f = w + ((oc * p->k_h + ky) * p->k_w + kx) * in_c;
                            for (int32_t c = 0; c < in_c; ++c) total += src[c] * f[c];
                        }
                    }
                    if (bias) total += bias[oc];
                    *out++ = td_clamp_act_f32(total, lo, hi);
                }
            }
        }
    }
}
