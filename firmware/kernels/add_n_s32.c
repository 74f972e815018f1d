/* ADD_N, int32: each element summed in input order, wrapping as TFLite's sum does on x86. */
#include "td_kernels.h"
#include "td_broadcast.h"

void td_add_n_s32(const td_add_n_params *p, const int32_t *const *ins, int32_t *out) {
    for (int32_t i = 0; i < p->size; ++i) {
        int32_t sum = 0;
        for (int32_t k = 0; k < p->count; ++k) sum = td_add_wrap(sum, ins[k][i]);
        out[i] = sum;
    }
}
