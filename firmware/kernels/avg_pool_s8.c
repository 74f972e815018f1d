/* AVERAGE_POOL_2D, int8: the mean over the window's valid (unpadded) cells, rounded half away. */
#include "td_kernels.h"
#include "td_quant.h"

void td_avg_pool_s8(const td_pool_params *p, const int8_t *in, int8_t *out) {
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int y0 = oy * p->stride_h - p->pad_h;
        const int fy0 = y0 < 0 ? -y0 : 0;
        const int fy1 = p->in_h - y0 < p->f_h ? p->in_h - y0 : p->f_h;
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int x0 = ox * p->stride_w - p->pad_w;
            const int fx0 = x0 < 0 ? -x0 : 0;
            const int fx1 = p->in_w - x0 < p->f_w ? p->in_w - x0 : p->f_w;
            const int32_t count = (fy1 - fy0) * (fx1 - fx0);
            for (int c = 0; c < p->c; ++c) {
                int32_t acc = 0;
                for (int fy = fy0; fy < fy1; ++fy)
                    for (int fx = fx0; fx < fx1; ++fx)
                        acc += in[((int32_t)(y0 + fy) * p->in_w + (x0 + fx)) * p->c + c];
                if (count == 0) {
                    acc = 0;
                } else {
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                }
                out[((int32_t)oy * p->out_w + ox) * p->c + c] =
                    (int8_t)td_clamp(acc, p->act_min, p->act_max);
            }
        }
    }
}
