/* TRANSPOSE_CONV, 16x8: int16 NHWC input and output (zero points 0), int8 weights [out_c][k_h]
 * [k_w][in_c] per output channel. TFLite's reference scatters every input value's products into
 * an int64 scratch as large as the output; this gathers the same products per output value
 * instead (output row oy takes filter row ky from input row (oy + pad_h - ky) / stride_h where
 * that divides and lies inside the input, columns alike), in int64, where the order of integer
 * additions cannot matter. Then the bias, td_mbqm64 and the clamp, as the reference. */
#include "td_kernels.h"
#include "td_quant.h"
#include "td_wide.h"

void td_transpose_conv_s16(const td_transpose_conv_ref_params *p, const int16_t *in,
                           const int8_t *w, const int64_t *bias, int16_t *out) {
    const int32_t in_c = p->in_c, in_row = p->in_w * in_c, sh = p->stride_h, sw = p->stride_w;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *image = in + b * p->in_h * in_row;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t ty = oy + p->pad_h;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t tx = ox + p->pad_w;
                for (int32_t oc = 0; oc < p->out_c; ++oc) {
                    int64_t acc = 0;
                    for (int32_t ky = ty % sh; ky < p->k_h; ky += sh) {
                        const int32_t iy = (ty - ky) / sh;
                        if (iy < 0) break;
                        if (iy >= p->in_h) continue;
                        for (int32_t kx = tx % sw; kx < p->k_w; kx += sw) {
                            const int32_t ix = (tx - kx) / sw;
                            if (ix < 0) break;
                            if (ix >= p->in_w) continue;
                            const int16_t *src = image + iy * in_row + ix * in_c;
                            const int8_t *f = w + ((oc * p->k_h + ky) * p->k_w + kx) * in_c;
                            for (int32_t c = 0; c < in_c; ++c) acc += (int32_t)src[c] * f[c];
                        }
                    }
                    if (bias) acc += bias[oc];
                    const int32_t v = td_mbqm64(acc, p->mult[oc], p->shift[oc]);
                    *out++ = (int16_t)td_clamp(v, p->act_min, p->act_max);
                }
            }
        }
    }
}
