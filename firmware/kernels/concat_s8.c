/* CONCATENATION (and PACK): row-wise copies of bytes, rows measured in bytes, so any element type. */
#include "td_kernels.h"

void td_concat_s8(const td_concat_params *p, const int8_t *const *ins, int8_t *out) {
    for (int32_t o = 0; o < p->outer; ++o) {
        int8_t *dst = out + o * p->inner_out;
        for (int32_t k = 0; k < p->n_inputs; ++k) {
            const int8_t *src = ins[k] + o * p->inner[k];
            for (int32_t i = 0; i < p->inner[k]; ++i) *dst++ = src[i];
        }
    }
}
