/* GATHER_ND, any type (tinydeploy/ops/gather.py): each tuple of `depth` indices selects the slice
 * at flat offset sum(index[j] * counts[j]). As in LiteRT only that flat offset is bounded (an
 * index past its own dimension that stays inside params reads what LiteRT reads); a slice
 * outside params, where LiteRT fails the invocation, is written as zeros. */
#include "td_kernels.h"
#include "td_move.h"

static int64_t nd_index_at(const void *indices, int32_t i, int32_t bytes) {
    if (bytes == 2) return ((const int16_t *)indices)[i];
    if (bytes == 8) return ((const int64_t *)indices)[i];
    return ((const int32_t *)indices)[i];
}

void td_gather_nd(const td_gather_nd_params *p, const uint8_t *params, const void *indices,
                  uint8_t *out) {
    const int32_t slice_bytes = p->slice_elems * p->elem;
    for (int32_t s = 0; s < p->n_slices; ++s, out += slice_bytes) {
        int64_t pos = 0;
        int32_t bad = 0;
        for (int32_t j = 0; j < p->depth; ++j) {
            const int64_t v = nd_index_at(indices, s * p->depth + j, p->index_bytes);
            /* |v| beyond the params cannot land inside them: stop before the sum overflows */
            if (v < 0 || v > p->total_elems) bad = 1;
            else pos += v * p->counts[j];
        }
        if (bad || pos + p->slice_elems > p->total_elems) {
            memset(out, 0, (size_t)slice_bytes);
        } else {
            td_move_row(out, params + (int32_t)pos * p->elem, slice_bytes, p->unit);
        }
    }
}
