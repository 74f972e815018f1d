/* FULLY_CONNECTED, 16x8: `batches` rows of int16 inputs (zero point 0) against int8 weights
 * [out_depth][in_depth] (symmetric, per tensor or per output), as LiteRT's reference: the int64
 * sum of the products plus the bias, requantized with one rounding (td_mbqm64_single), clamped. */
#include "td_kernels.h"
#include "td_quant.h"
#include "td_wide.h"

void td_fully_connected_s16(const td_fc_ref_params *p, const int16_t *in, const int8_t *w,
                            const int64_t *bias, int16_t *out) {
    const int32_t depth = p->in_depth;
    for (int32_t b = 0; b < p->batches; ++b, in += depth) {
        const int8_t *row = w;
        for (int32_t o = 0; o < p->out_depth; ++o, row += depth) {
            int64_t acc = 0;
            for (int32_t d = 0; d < depth; ++d) acc += (int32_t)in[d] * row[d];
            if (bias) acc += bias[o];
            const int32_t c = p->per_channel ? o : 0;
            const int32_t v = td_mbqm64_single(acc, p->mult[c], p->shift[c]);
            *out++ = (int16_t)td_clamp(v, p->act_min, p->act_max);
        }
    }
}
