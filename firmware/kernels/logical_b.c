/* LOGICAL_AND and LOGICAL_OR with 4-D broadcasting on bool (one byte; any nonzero byte is true,
 * outputs are 0 or 1). */
#include "td_kernels.h"
#include "td_broadcast.h"

void td_logical_b(const td_logical_params *p, const uint8_t *in1, const uint8_t *in2,
                  uint8_t *out) {
    const int is_and = p->op == TD_LOGICAL_AND;
    TD_BROADCAST2(p->out_dims, p->in1_strides, p->in2_strides, i1, i2) {
        const int a = in1[i1] != 0, b = in2[i2] != 0;
        *out++ = (uint8_t)(is_and ? (a && b) : (a || b));
    }
}
