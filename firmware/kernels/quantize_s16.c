/* QUANTIZE and DEQUANTIZE with int16 (16x8) tensors: float32 -> int16 (round half away from zero,
 * saturating as quantize_s8.c does), int16 -> float32, and the requantizations between int16 and
 * int8 (TFLite's Requantize: MultiplyByQuantizedMultiplier of x - input zero point, plus the output
 * zero point, clamped to the output type). int16 -> int16 is rescale_s16.c. */
#include <math.h>
#include "td_kernels.h"
#include "td_quant.h"

void td_quantize_f32_s16(const td_affine_params *p, const float *in, int16_t *out) {
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t q = td_clamp(td_sat_f2i(roundf(in[i] / p->scale)), -(1 << 30), 1 << 30);
        out[i] = (int16_t)td_clamp(q + p->zero_point, -32768, 32767);
    }
}

void td_dequantize_s16_f32(const td_affine_params *p, const int16_t *in, float *out) {
    for (int32_t i = 0; i < p->size; ++i)
        out[i] = (float)((double)p->scale * (double)((int32_t)in[i] - p->zero_point));
}

void td_requantize_s16_s8(const td_requant_params *p, const int16_t *in, int8_t *out) {
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t v = td_mbqm((int32_t)in[i] - p->input_zero_point, p->multiplier, p->shift)
                          + p->output_zero_point;
        out[i] = (int8_t)td_clamp(v, p->act_min, p->act_max);
    }
}

void td_requantize_s8_s16(const td_requant_params *p, const int8_t *in, int16_t *out) {
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t v = td_mbqm((int32_t)in[i] - p->input_zero_point, p->multiplier, p->shift)
                          + p->output_zero_point;
        out[i] = (int16_t)td_clamp(v, p->act_min, p->act_max);
    }
}
