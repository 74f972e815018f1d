/* FULLY_CONNECTED, float32: `batches` rows against weights [out_depth][in_depth], as TFLite's
 * reference: the products summed from 0 in input order, then the bias added and the fused
 * activation's clamp. */
#include "td_kernels.h"
#include "td_wide.h"

void td_fully_connected_f32(const td_fc_ref_params *p, const float *in, const float *w,
                            const float *bias, float *out) {
    float lo, hi;
    td_act_bounds_f32(p->activation, &lo, &hi);
    const int32_t depth = p->in_depth;
    for (int32_t b = 0; b < p->batches; ++b, in += depth) {
        const float *row = w;
        for (int32_t o = 0; o < p->out_depth; ++o, row += depth) {
            float total = 0.0f;
            for (int32_t d = 0; d < depth; ++d) total += in[d] * row[d];
            *out++ = td_clamp_act_f32(total + (bias ? bias[o] : 0.0f), lo, hi);
        }
    }
}
