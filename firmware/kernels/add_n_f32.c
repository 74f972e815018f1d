/* ADD_N, float32: each element summed from 0 in input order, as TFLite's kernel on one thread. */
#include "td_kernels.h"

void td_add_n_f32(const td_add_n_params *p, const float *const *ins, float *out) {
    for (int32_t i = 0; i < p->size; ++i) {
        float sum = 0.0f;
        for (int32_t k = 0; k < p->count; ++k) sum += ins[k][i];
        out[i] = sum;
    }
}
