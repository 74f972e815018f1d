/* int16 -> int16 element-wise rescale (16x8): d = x - input zero point (|d| for ABS), times one
 * quantized multiplier where d >= 0 and another where d < 0 (TFLite's MultiplyByQuantizedMultiplier),
 * plus the output zero point, clamped. RELU, RELU6 and QUANTIZE use one multiplier for both signs,
 * LEAKY_RELU two; ABS on one scale passes d unscaled. */
#include "td_kernels.h"
#include "td_quant.h"

void td_rescale_s16(const td_rescale16_params *p, const int16_t *in, int16_t *out) {
    for (int32_t i = 0; i < p->size; ++i) {
        int32_t d = (int32_t)in[i] - p->input_zero_point;
        if (p->absolute && d < 0) d = -d;
        int32_t v;
        if (d >= 0) v = p->rescale ? td_mbqm(d, p->multiplier_pos, p->shift_pos) : d;
        else v = td_mbqm(d, p->multiplier_neg, p->shift_neg);
        out[i] = (int16_t)td_clamp(v + p->output_zero_point, p->act_min, p->act_max);
    }
}
