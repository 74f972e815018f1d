/* AVERAGE_POOL_2D, int16 (16x8 models), as TFLite's int16 reference AveragePool: the int32 sum of
 * the window's valid (unpadded) cells, divided by their count rounding half away from zero, then
 * the activation clamp. The compiler keeps windows within 2^16 cells: the sum cannot overflow. */
#include "td_kernels.h"
#include "td_quant.h"

void td_avg_pool_s16(const td_pool_params *p, const int16_t *in, int16_t *out) {
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
            int16_t *o = out + (oy * p->out_w + ox) * c_n;
            for (int32_t c = 0; c < c_n; ++c) {
                int32_t acc = 0;
                for (int32_t fy = fy0; fy < fy1; ++fy)
                    for (int32_t fx = fx0; fx < fx1; ++fx)
                        acc += in[((y0 + fy) * p->in_w + (x0 + fx)) * c_n + c];
                int32_t v = 0;
                if (count > 0) v = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                o[c] = (int16_t)td_clamp(v, p->act_min, p->act_max);
            }
        }
    }
}
