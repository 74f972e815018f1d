/* QUANTIZE (float32 -> int8, and int8 -> int8 rescale) and DEQUANTIZE (int8 -> float32).
 * float -> int conversions saturate (td_sat_f2i): NaN quantizes to the zero point. */
#include <math.h>
#include "td_kernels.h"
#include "td_quant.h"

void td_quantize_f32_s8(const td_affine_params *p, const float *in, int8_t *out) {
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t q = td_clamp(td_sat_f2i(roundf(in[i] / p->scale)), -(1 << 30), 1 << 30);
        out[i] = (int8_t)td_clamp(q + p->zero_point, -128, 127);
    }
}

void td_dequantize_s8_f32(const td_affine_params *p, const int8_t *in, float *out) {
    for (int32_t i = 0; i < p->size; ++i)
        out[i] = (float)((double)p->scale * (double)((int32_t)in[i] - p->zero_point));
}

void td_requantize_s8(const td_requant_params *p, const int8_t *in, int8_t *out) {
    for (int32_t i = 0; i < p->size; ++i) {
        int32_t v = td_mbqm((int32_t)in[i] - p->input_zero_point, p->multiplier, p->shift)
                    + p->output_zero_point;
        out[i] = (int8_t)td_clamp(v, p->act_min, p->act_max);
    }
}
