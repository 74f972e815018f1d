/* Element-wise int16 -> int16 through TFLite's 513-entry table (LUTLookup): the input's top 9 bits
 * pick a segment, its low 7 bits interpolate linearly to the next entry, rounding half up. The
 * slope is the difference of two entries as int16, wrapping as TFLite's does. */
#include "td_kernels.h"

void td_lut_s16(const td_lut16_params *p, const int16_t *in, int16_t *out) {
    const int16_t *t = p->table;
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t u = (int32_t)in[i] + 32768;     /* 0 .. 65535 */
        const int32_t index = u >> 7, offset = u & 0x7f;
        const int32_t slope = (int16_t)(t[index + 1] - t[index]);
        const int32_t delta = (slope * offset + 64) >> 7;
        out[i] = (int16_t)(t[index] + delta);
    }
}
