/* HARD_SWISH, int8: x * relu6(x + 3) / 6 in 16-bit fixed point, as TFLite's reference kernel. */
#include "td_kernels.h"

static int16_t srdhm16(int16_t a, int16_t b) {
    if (a == b && a == INT16_MIN) return INT16_MAX;
    int32_t ab = (int32_t)a * b;
    int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((ab + nudge) / (1 << 15));
}

static int16_t sdhm16(int16_t a, int16_t b) {  /* no rounding */
    if (a == b && a == INT16_MIN) return INT16_MAX;
    return (int16_t)(((int32_t)a * b) / (1 << 15));
}

static int16_t rdbpot16(int16_t x, int exponent) {
    const int16_t mask = (int16_t)((1 << exponent) - 1);
    const int16_t remainder = (int16_t)(x & mask);
    const int16_t threshold = (int16_t)((mask >> 1) + (x < 0 ? 1 : 0));
    return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

static int16_t sat_shift_left16(int16_t x, int amount) {
    int32_t v = (int32_t)x * (1 << amount);
    return (int16_t)(v > INT16_MAX ? INT16_MAX : (v < INT16_MIN ? INT16_MIN : v));
}

void td_hard_swish_s8(const td_hard_swish_params *p, const int8_t *in, int8_t *out) {
    for (int32_t i = 0; i < p->size; ++i) {
        const int16_t x = (int16_t)(in[i] - p->input_zero_point);
        const int16_t x_hires = (int16_t)(x * (1 << 7));
        const int16_t x_out_scale = srdhm16(x_hires, p->output_multiplier);
        int16_t reluish = x_hires;
        if (p->reluish_exponent > 0) reluish = sat_shift_left16(reluish, p->reluish_exponent - 1);
        reluish = srdhm16(reluish, p->reluish_multiplier);
        if (p->reluish_exponent > 0) reluish = sat_shift_left16(reluish, 1);
        if (p->reluish_exponent < 0) reluish = rdbpot16(reluish, -p->reluish_exponent);
        reluish = (int16_t)((reluish + (1 << 15)) >> 1);          /* [-1, 1] -> [0, 1] */
        const int16_t pre = sdhm16(reluish, x_out_scale);
        int32_t v = rdbpot16(pre, -p->output_exponent) + p->output_zero_point;
        out[i] = (int8_t)(v > 127 ? 127 : (v < -128 ? -128 : v));
    }
}
