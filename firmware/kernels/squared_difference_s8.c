/* SQUARED_DIFFERENCE, int8, with 4-D broadcasting: both inputs rescaled to a shared scale with 7
 * bits of headroom (a table per input, TFLite's arithmetic, computed by the compiler), the
 * difference squared (at most 2^30) and requantized. */
#include "td_kernels.h"
#include "td_broadcast.h"
#include "td_quant.h"

void td_squared_difference_s8(const td_binary_params *p, const int8_t *in1, const int8_t *in2,
                              int8_t *out) {
    const int32_t *t1 = p->table1, *t2 = p->table2;
    TD_BROADCAST2(p->out_dims, p->in1_strides, p->in2_strides, i1, i2) {
        const int32_t d = t1[(uint8_t)in1[i1]] - t2[(uint8_t)in2[i2]];
        const int32_t v = td_mbqm(d * d, p->output_multiplier, p->output_shift) + p->output_offset;
        *out++ = (int8_t)td_clamp(v, p->act_min, p->act_max);
    }
}
