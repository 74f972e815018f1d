/* Element-wise int8 -> int8 through a 256-entry table built at compile time (TANH, LOGISTIC:
 * TFLite's reference kernels evaluate these through the same float-computed table). */
#include "td_kernels.h"

void td_lut_s8(const td_lut_params *p, const int8_t *in, int8_t *out) {
    for (int32_t i = 0; i < p->size; ++i) out[i] = p->table[(uint8_t)in[i]];
}
