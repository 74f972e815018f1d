/* L2_POOL_2D, float32, as TFLite's reference L2Pool: the squares of the window's valid cells summed
 * in row-major order starting from 0, divided by their count, the square root of that (sqrtf,
 * exact), then the activation clamp. */
#include <math.h>
#include "td_kernels.h"
#include "td_wide.h"
#include "td_broadcast.h"

void td_l2_pool_f32(const td_pool_f32_params *p, const float *in, float *out) {
    float lo, hi;
    td_act_bounds_f32(p->activation, &lo, &hi);
    const int32_t c_n = p->c;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        const int32_t fy0 = y0 < 0 ? -y0 : 0;
        const int32_t fy1 = p->in_h - y0 < p->f_h ? p->in_h - y0 : p->f_h;
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            const int32_t fx0 = x0 < 0 ? -x0 : 0;
            const int32_t fx1 = p->in_w - x0 < p->f_w ? p->in_w - x0 : p->f_w;
            const int32_t count = (fy1 - fy0) * (fx1 - fx0);
            float *o = out + (oy * p->out_w + ox) * c_n;
            for (int32_t c = 0; c < c_n; ++c) {
                float squares = 0.0f;
                for (int32_t fy = fy0; fy < fy1; ++fy)
                    for (int32_t fx = fx0; fx < fx1; ++fx) {
                        const float v = in[((y0 + fy) * p->in_w + (x0 + fx)) * c_n + c];
                        squares += v * v;
                    }
                o[c] = td_clamp_f32(sqrtf(squares / (float)count), lo, hi);
            }
        }
    }
}
