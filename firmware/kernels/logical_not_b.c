/* LOGICAL_NOT on bool (one byte; any nonzero byte is true, outputs are 0 or 1). */
#include "td_kernels.h"

void td_logical_not_b(const td_unary_params *p, const uint8_t *in, uint8_t *out) {
    for (int32_t i = 0; i < p->size; ++i) out[i] = (uint8_t)(in[i] == 0);
}
