/* GATHER, any type (tinydeploy/ops/gather.py): each index picks a slice of inner_bytes along the
 * gathered axis. An index outside [0, axis_size), where LiteRT fails the invocation, gives a
 * slice of zeros rather than a read outside params. */
#include "td_kernels.h"
#include "td_move.h"

static int64_t index_at(const void *indices, int32_t i, int32_t bytes) {
    if (bytes == 2) return ((const int16_t *)indices)[i];
    if (bytes == 8) return ((const int64_t *)indices)[i];
    return ((const int32_t *)indices)[i];
}

void td_gather(const td_gather_params *p, const uint8_t *params, const void *indices,
               uint8_t *out) {
    const int32_t inner = p->inner_bytes, axis = p->axis_size;
    for (int32_t b = 0; b < p->batch; ++b) {
        for (int32_t o = 0; o < p->outer; ++o) {
            const uint8_t *src = params + (b * p->outer + o) * axis * inner;
            for (int32_t i = 0; i < p->coords; ++i, out += inner) {
                const int64_t k = index_at(indices, b * p->coords + i, p->index_bytes);
                if (k < 0 || k >= axis) {
                    memset(out, 0, (size_t)inner);
                } else {
                    td_move_row(out, src + (int32_t)k * inner, inner, p->unit);
                }
            }
        }
    }
}
