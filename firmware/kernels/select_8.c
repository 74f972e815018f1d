/* SELECT and SELECT_V2 of one-byte values (int8, uint8, bool): x where the condition is true, else
 * y, with condition, x and y broadcast over a 4-D output. A bit copy, as TFLite's. */
#include "td_kernels.h"
#include "td_broadcast.h"

void td_select_8(const td_select_params *p, const uint8_t *cond, const uint8_t *x,
                 const uint8_t *y, uint8_t *out) {
    TD_BROADCAST3(p->out_dims, p->cond_strides, p->x_strides, p->y_strides, ic, ix, iy)
        *out++ = cond[ic] ? x[ix] : y[iy];
}
