/* DIV, int8, with 4-D broadcasting: TFLite's fixed-point quotient. The compiler tabulates the
 * Q0.31 reciprocal of every divisor's magnitude and its bits above one (gemmlowp's Newton-Raphson
 * reciprocal, TFLite's GetReciprocal); per element the numerator is normalized by its redundant
 * sign bits, multiplied by the reciprocal, requantized and shifted back.
 *
 * That last shift is a rounding division by 2^e with e up to 37 for small numerators: TFLite's
 * reference (gemmlowp's RoundingDivideByPOT) has no meaning past 31, and on x86, where LiteRT runs,
 * it computes its mask in 64 bits and shifts by e mod 32. This kernel does the same, so a Cortex-M
 * gives LiteRT's outputs bit for bit. A zero divisor (TFLite refuses the inference) gives the
 * activation's end in the numerator's sign. */
#include "td_kernels.h"
#include "td_broadcast.h"
#include "td_quant.h"

/* leading redundant sign bits, as GCC's __builtin_clrsb (31 for 0 and for -1) */
static int clrsb32(int32_t x) {
    uint32_t u = x < 0 ? ~(uint32_t)x : (uint32_t)x;
    int n = 0;
    if (u == 0) return 31;
    while (!(u & 0x80000000u)) {
        u <<= 1;
        ++n;
    }
    return n - 1;
}

/* RoundingDivideByPOT as x86-64 runs it, 0 <= e <= 62 */
static int32_t rdbpot_x86(int32_t x, int e) {
    const int32_t mask = (int32_t)(uint32_t)(((uint64_t)1 << e) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask < 0 ? -1 : (mask >> 1)) + (x < 0 ? 1 : 0);
    return (x >> (e & 31)) + (remainder > threshold ? 1 : 0);
}

void td_div_s8(const td_div_params *p, const int8_t *in1, const int8_t *in2, int8_t *out) {
    TD_BROADCAST2(p->out_dims, p->in1_strides, p->in2_strides, i1, i2) {
        int32_t num = in1[i1] + p->input1_offset;
        const int32_t den = in2[i2] + p->input2_offset;
        const uint8_t byte = (uint8_t)in2[i2];
        int32_t v;
        if (den == 0) {
            v = num >= 0 ? p->act_max : p->act_min;
        } else {
            if (den < 0) num = -num;
            const int headroom = clrsb32(num);
            const int32_t unscaled = td_srdhm((int32_t)((uint32_t)num << headroom), p->recip[byte]);
            const int e = headroom + p->recip_shift[byte] - p->output_shift;
            v = td_clamp(rdbpot_x86(td_srdhm(unscaled, p->output_multiplier), e) + p->output_offset,
                         p->act_min, p->act_max);
        }
        *out++ = (int8_t)v;
    }
}
