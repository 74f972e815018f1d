/* MAX_POOL_2D, int16 (16x8 models): the largest stored value of the window's valid cells, then the
 * activation clamp, as TFLite's int16 reference MaxPool. */
#include "td_kernels.h"
#include "td_quant.h"

void td_max_pool_s16(const td_pool_params *p, const int16_t *in, int16_t *out) {
    const int32_t c_n = p->c;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        const int32_t fy0 = y0 < 0 ? -y0 : 0;
        const int32_t fy1 = p->in_h - y0 < p->f_h ? p->in_h - y0 : p->f_h;
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            const int32_t fx0 = x0 < 0 ? -x0 : 0;
            const int32_t fx1 = p->in_w - x0 < p->f_w ? p->in_w - x0 : p->f_w;
            int16_t *o = out + (oy * p->out_w + ox) * c_n;
            for (int32_t c = 0; c < c_n; ++c) {
                int32_t m = -32768;
                for (int32_t fy = fy0; fy < fy1; ++fy)
                    for (int32_t fx = fx0; fx < fx1; ++fx) {
                        const int32_t v = in[((y0 + fy) * p->in_w + (x0 + fx)) * c_n + c];
                        if (v > m) m = v;
                    }
                o[c] = (int16_t)td_clamp(m, p->act_min, p->act_max);
            }
        }
    }
}
