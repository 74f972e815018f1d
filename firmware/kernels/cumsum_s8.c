/* CUMSUM on int8, as TFLite Micro's reference quantized CumSum: every input rescaled through the
 * compiler's table (ADD's rescale of the value less the zero point), each line summed in int32 from
 * table entry 0 (the rescaled -zero point, where the reference's sum starts), in order or from the
 * end, the sum before the element where exclusive; each sum requantized and clamped to int8. The
 * sums wrap as on the reference's x86. */
#include "td_kernels.h"
#include "td_broadcast.h"
#include "td_quant.h"

void td_cumsum_s8(const td_cumsum_s8_params *p, const int8_t *in, int8_t *out) {
    const int32_t *table = p->table;
    for (int32_t o = 0; o < p->outer; ++o)
        for (int32_t k = 0; k < p->inner; ++k) {
            const int32_t base = o * p->depth * p->inner + k;
            int32_t acc = table[0];
            for (int32_t d = 0; d < p->depth; ++d) {
                const int32_t i = base + (p->reverse ? p->depth - 1 - d : d) * p->inner;
                const int32_t y = table[(uint8_t)in[i]];
                int32_t sum;
                if (p->exclusive) {
                    sum = acc;
                    acc = td_add_wrap(acc, y);
                } else {
                    acc = td_add_wrap(acc, y);
                    sum = acc;
                }
                out[i] = (int8_t)td_sat8(td_mbqm(sum, p->output_multiplier, p->output_shift)
                                         + p->output_offset);
            }
        }
}
